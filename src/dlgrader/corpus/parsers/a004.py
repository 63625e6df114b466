"""Parser for article 004: an interview guide whose question headers were stripped entirely.

The document is one paragraph per line, with no blank lines and no typographic cue (no numbering,
no bold, no "Q:") that separates one answer from the next: an answer is a run of 1-8 paragraphs
(prose, `| a | b |` table rows, flattened code, dangling labels such as "When used:" whose list
was lost), and sections are announced by lead-in paragraphs ("Basic deep learning interview
questions ...", "Computer vision interview questions ..."). Because nothing in the text marks a
boundary, the boundaries were found by reading the article and are recorded below as the opening
words of each answer, in article order. The parser walks the paragraphs, starts a block at every
answer opening (locator ``paragraph N``, N = 1-based index of the non-empty line), appends the
following paragraphs to it, and drops the intro, the section lead-ins, the conclusion and
interview-tips table, the page furniture after the FAQ (course blurbs, webinar ads, "Time Zone:")
and in-answer noise (image captions, the "Pro Tip" callout). ``question`` is always None. Every
opening must match exactly one paragraph, so a changed source fails loudly instead of silently.
"""

from __future__ import annotations

import re

from dlgrader.corpus.parsers.base import DraftBlock
from dlgrader.corpus.text import normalize_ws

# The first words of each answer paragraph that begins a question-and-answer unit, in article order.
_ANSWER_OPENINGS: tuple[str, ...] = (
    # basic questions
    "Deep Learning is a subset of Machine Learning",
    "Machine learning and deep learning can be differentiated",
    "The artificial neural network (ANN) is",
    "Weights and biases are two important parameters",
    "The neural network consists of three main layers",
    "A shallow neural network consists of",
    "Loss function is a technique",
    "The forward propagation procedure",
    "Optimization refers to the technique",
    "There are two kinds of predictions",
    # coding questions
    "The type of activation function determines",
    "In sequential network structures, backpropagation",
    "No. A network constructed with linear transformations",
    "A computational graph is a representation",
    "An autoencoder is a neural network",
    "A simple neural network is built by",
    "Dropout is a regularization technique",
    "Training mode and evaluation mode control",
    "Saving and loading a trained model",
    "Imbalanced data means",
    # model training questions
    "Gradient Descent is the method",
    "If the learning rate is too high",
    "The vanishing gradient problem happens",
    "Batch Normalization is a technique",
    "Dropout is a technique used during training",
    "Overfitting happens when",
    "Optimizers control how a neural network",
    "Learning rate scheduling is the process",
    "Gradient clipping is a technique",
    "L1 and L2 regularization prevent overfitting",
    "Weight initialization is the process",
    # architecture questions
    "A Convolutional Neural Network (CNN) is",
    "A Recurrent Neural Network (RNN) is",
    "These three architectures are designed for sequential data",
    "A Transformer is a deep learning architecture",
    "An attention mechanism helps",
    "Image-specialized networks like CNNs",
    "A diffusion model is",
    "Discriminative and generative models differ",
    # NLP questions
    "Text normalization is the process",
    "Feature engineering in NLP is",
    "TF-IDF is a method",
    "POS (Part-of-Speech) tagging is",
    "NLP (Natural Language Processing) is the broader field",
    "BERT (Bidirectional Encoder Representations from Transformers) is",
    "BERT and GPT are both",
    # computer vision questions
    "In a vision model like a CNN",
    "When a filter moves over an image",
    "Assume: Stride = 1",
    "A pooling layer has zero learnable parameters",
    "Data augmentation is a technique",
    # advanced questions
    "A Generative Adversarial Network (GAN) is",
    "Transfer learning and fine-tuning are both",
    "The bias-variance tradeoff describes",
    "Loss functions measure how wrong",
    "Retrieval-Augmented Generation (RAG) is",
    "Knowledge Distillation is a technique",
    "Self-supervised learning is a training method",
    "Supervised pre-training uses datasets",
    "Multi-task learning is a training approach",
    "Large Language Models (LLMs) are",
    # FAQ
    "You need a strong understanding of how neural networks learn",
    "Most interviews focus on neural networks",
    "Python is the most commonly used language",
    "AI is the broad field",
    "It depends on your starting point",
    "Good preparation includes a mix",
)

# Paragraphs that open a run of non-answer text (section lead-ins, conclusion, page furniture).
_SKIP_OPENINGS: tuple[str, ...] = (
    "Coding interviews on deep learning evaluate",
    "Deep learning model training focuses",
    "Deep learning architecture questions are",
    "NLP (Natural Language Processing) is one of the most active areas",
    "Computer vision interview questions test",
    "Advanced deep learning topics are",
    "Deep learning interviews today are",
    "Recommended Reads:",
)

# Noise inside an answer: image captions and the promotional "Pro Tip" callout.
_IN_ANSWER_NOISE = re.compile(r"Diagram:$|^\W*Pro Tip:")


def _check_openings(paragraphs: list[str]) -> None:
    """Fail loudly unless every recorded opening matches exactly one paragraph."""
    for opening in _ANSWER_OPENINGS + _SKIP_OPENINGS:
        hits = sum(p.startswith(opening) for p in paragraphs)
        if hits != 1:
            raise ValueError(f"a004: opening {opening!r} matches {hits} paragraphs, expected 1")


def parse(text: str, document: str) -> list[DraftBlock]:
    """Split the article into one DraftBlock per answer, in article order."""
    paragraphs = [normalize_ws(line) for line in text.splitlines() if line.strip()]
    _check_openings(paragraphs)
    blocks: list[DraftBlock] = []
    start: int | None = None
    lines: list[str] = []

    def flush() -> None:
        if start is not None:
            blocks.append(DraftBlock(document, f"paragraph {start}", None, "\n".join(lines)))

    for number, paragraph in enumerate(paragraphs, 1):
        if paragraph.startswith(_ANSWER_OPENINGS):
            flush()
            start, lines = number, [paragraph]
        elif paragraph.startswith(_SKIP_OPENINGS):
            flush()
            start, lines = None, []
        elif start is not None and not _IN_ANSWER_NOISE.search(paragraph):
            lines.append(paragraph)
    flush()
    return blocks
