"""The web practice app end to end: the real ``dlgrader serve`` (real model, fresh progress database) driven
through Debian's headless Chromium by Playwright.

One server and one browser serve the whole module; each test gets its own browser context (fresh
localStorage) and its own learner profile, so tests do not see each other's progress. Screenshots of the
practice result and the progress page, at desktop and phone width, go to ``DLGRADER_TEST_ARTIFACTS``
(default ``tests/artifacts/``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("playwright is not installed (pip install playwright)", allow_module_level=True)

import apiserver

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:  # pragma: no cover - depends on the environment
    pytest.skip("no `chromium` on PATH (Debian: apt-get install -y chromium)", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("DLGRADER_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 800}
WAIT_MS = 60_000  # grading on a busy 2-core machine can take seconds; every wait is on an element, not a sleep
READY_TIMEOUT_S = 180.0


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(grader, tmp_path_factory: pytest.TempPathFactory,  # type: ignore[no-untyped-def]
           session_index_dir: Path) -> Iterator[apiserver.Server]:
    """``dlgrader serve`` on a free loopback port, ready (model loaded), with an empty progress database."""
    # `grader` makes sure the session index exists before the server looks for it
    workdir = tmp_path_factory.mktemp("webapp")
    # No rate limit: every test talks from 127.0.0.1, and a 429 would be about the suite, not the app.
    settings = {"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_RATE_LIMIT_PER_MINUTE": "0",
                "DLGRADER_DATA_DIR": str(workdir / "data")}
    with apiserver.running(settings, workdir=workdir, timeout=READY_TIMEOUT_S) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def _profile_name(test_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", test_name)[:64]


@pytest.fixture
def page(browser: Browser, server: apiserver.Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context at desktop size whose learner profile is named after the test; fails the test
    on any uncaught JavaScript error."""
    context = browser.new_context(viewport=DESKTOP, base_url=server.url)
    profile = _profile_name(request.node.name)
    # Runs before the app's script on every page load (reloads too): the app reads its profile from here.
    context.add_init_script(f"window.localStorage.setItem('dlgrader.profile', {json.dumps(profile)});")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"


expect.set_options(timeout=WAIT_MS)


# ---------------------------------------------------------------- helpers


def _question(server: apiserver.Server, question_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/questions/{question_id}", timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _shown_question(page: Page) -> str:
    """Wait for the practice view's question and return its id."""
    card = page.locator(".question-card")
    expect(card).to_be_visible()
    question_id = card.get_attribute("data-question-id")
    assert question_id
    return question_id


def _good_answer(question: dict[str, Any]) -> str:
    """A correct-ish answer: its first key points in the learner's voice. The emoji in front shifts every
    UTF-16 index against the code-point offsets the server returns; the markup must stay text."""
    points = " ".join(point["text"] for point in question["key_points"][:3])
    return f"🙂 In short: {points} <b>not bold</b>"


def _label(source: dict[str, Any]) -> str:
    return str(source["label"])


def _no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None
    assert width <= viewport["width"], f"page is {width}px wide at a {viewport['width']}px viewport"


def _shoot(page: Page, artifacts: Path, name: str) -> None:
    # From the top, pointer away: a sticky column or a hover highlight would otherwise show mid-scroll state.
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    for label, size in (("1280", DESKTOP), ("375", PHONE)):
        page.set_viewport_size(size)
        if size == PHONE:
            _no_horizontal_scroll(page)
        page.screenshot(path=str(artifacts / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def _submit(page: Page) -> dict[str, Any]:
    with page.expect_response(lambda r: r.url.endswith("/v1/practice/answers")) as answered:
        page.get_by_role("button", name="Submit", exact=True).click()
    assert answered.value.status == 200, answered.value.text()
    return dict(answered.value.json())


# ---------------------------------------------------------------- tests


def test_practice_answer_rating_and_progress(page: Page, server: apiserver.Server, artifacts: Path) -> None:
    page.goto("/")
    question = _question(server, _shown_question(page))
    answer = _good_answer(question)
    page.get_by_label("Your answer").fill(answer)
    expect(page.locator("#answer-counter")).to_have_text(f"{len(answer):,} / 20,000 characters")

    graded = _submit(page)
    result = graded["result"]
    assert result["status"] == "graded"
    expect(page.locator("#result-heading")).to_be_focused()
    expect(page.locator(".score-value")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    rows = page.locator(".key-point")
    expect(rows).to_have_count(len(result["key_points"]))
    expect(rows.first.locator(".verdict")).to_have_text(re.compile(r"(covered|partial|missing|contradicted)$"))

    # The learner's own answer, as text (no markup from the answer), with each evidence span marked at the
    # right place although the emoji makes UTF-16 indices and code-point offsets differ.
    own = page.locator(".answer-text")
    expect(own).to_contain_text("<b>not bold</b>")
    assert own.locator("b").count() == 0
    expect(own.locator("mark").first).to_be_visible()
    with_evidence = [p for p in result["key_points"] if p["evidence"]]
    assert with_evidence, "a correct-ish answer should have evidence for some key point"
    for point in with_evidence:
        marked = own.locator(f"mark[data-points~='kp-{point['index']}']").all_text_contents()
        assert "".join(marked) == point["evidence"]["text"]

    # Hovering a key point highlights its words in the answer.
    first = with_evidence[0]["index"]
    page.locator(f".key-point[data-point='kp-{first}']").hover()
    expect(own.locator(f"mark[data-points~='kp-{first}']").first).to_have_class(re.compile("is-active"))

    # The reference and its sources come with the result.
    expect(page.locator(".reference-text")).to_have_text(question["reference_answer"])
    expect(page.locator(".reference .source-label").first).to_have_text(_label(graded["reference"]["sources"][0]))

    # The suggested rating is marked; choosing another one reschedules the card.
    suggested = graded["suggested_rating"]
    expect(page.locator(".suggestion")).to_have_text(
        f"Suggested: {suggested.capitalize()} — next review {graded['interval']}")
    expect(page.locator(f".rating[data-rating='{suggested}']")).to_have_attribute("aria-pressed", "true")
    other = "hard" if suggested != "hard" else "good"
    with page.expect_response(lambda r: "/rating" in r.url) as rated:
        page.locator(f".rating[data-rating='{other}']").click()
    assert rated.value.status == 200, rated.value.text()
    expect(page.locator("#rating-status")).to_have_text(
        f"Rated {other.capitalize()} (changed from {suggested.capitalize()}) — next review "
        f"{rated.value.json()['interval']}")
    expect(page.locator(f".rating[data-rating='{other}']")).to_have_attribute("aria-pressed", "true")
    _shoot(page, artifacts, "practice-result")

    page.get_by_role("link", name="Progress", exact=True).click()
    _expect_progress(page, question["topic"])
    _shoot(page, artifacts, "progress")
    page.reload()
    _expect_progress(page, question["topic"])


def _expect_progress(page: Page, topic: str) -> None:
    expect(page.get_by_role("heading", name="Progress", level=1)).to_be_visible()
    expect(page.locator(".headline-text")).to_contain_text("1 graded answer in 1 attempt")
    row = page.locator("table.mastery tbody tr").filter(has=page.locator("th", has_text=re.compile(f"^{topic}$")))
    expect(row.locator("td").first).to_have_text(re.compile(r"^1 / \d+$"))
    expect(page.locator(".days .day")).to_have_count(30)


def test_misconception_is_shown_with_its_correction(page: Page) -> None:
    page.goto("/#/practice?question=neural_network")  # "Practise this question" in the question browser
    expect(page.locator(".question-card")).to_have_attribute("data-question-id", "neural_network")
    expect(page.locator(".question-card .reason")).to_have_text("chosen from the question list")
    page.get_by_label("Your answer").fill(
        "A neural network works exactly the way the brain does: each artificial neuron is a model of a biological "
        "neuron. It learns its weights from data with gradient descent.")
    result = _submit(page)["result"]
    assert result["misconceptions"], "the answer states a misconception of the bank word for word"
    block = page.locator(".notice-misconception")
    for match in result["misconceptions"]:
        expect(block).to_contain_text(match["text"])
        expect(block).to_contain_text(match["correction"])
    for flag in result["flags"]:
        expect(page.locator(".notice-flags")).to_contain_text(flag["message"])
    wrong = page.locator(".answer-text mark.ev-contradicted")
    expect(wrong.first).to_be_visible()
    # Focusing a key point (keyboard) highlights its words, like hovering does.
    contradicted = [p for p in result["key_points"] if p["verdict"] == "contradicted" and p["evidence"]]
    if contradicted:
        index = contradicted[0]["index"]
        page.locator(f".key-point[data-point='kp-{index}']").focus()
        expect(page.locator(f".answer-text mark[data-points~='kp-{index}']").first).to_have_class(
            re.compile("is-active"))
        expect(page.locator(f".key-point[data-point='kp-{index}'] .verdict")).to_have_text("✗ contradicted")


def test_i_dont_know_shows_the_reference_and_its_sources(page: Page, server: apiserver.Server) -> None:
    page.goto("/#/practice")
    question = _question(server, _shown_question(page))
    with page.expect_response(lambda r: r.url.endswith("/v1/practice/reveal")) as revealed:
        page.get_by_role("button", name="I don't know — show the answer").click()
    assert revealed.value.status == 200, revealed.value.text()
    body = revealed.value.json()
    expect(page.locator(".reference-text")).to_have_text(question["reference_answer"])
    labels = page.locator(".reference .source-label")
    expect(labels).to_have_count(len(body["reference"]["sources"]))
    expect(labels.first).to_have_text(_label(body["reference"]["sources"][0]))
    expect(page.locator(".result .notice")).to_contain_text(f"next review {body['interval']}")
    page.get_by_role("button", name="Next question").click()
    expect(page.get_by_label("Your answer")).to_be_visible()


def test_keyboard_only_submit_and_rating(page: Page, server: apiserver.Server) -> None:
    page.goto("/")
    question = _question(server, _shown_question(page))
    for _ in range(40):  # Tab through the header and the filters to the answer box
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "answer":
            break
    else:
        pytest.fail("the answer box cannot be reached with Tab")
    page.keyboard.insert_text(_good_answer(question))
    with page.expect_response(lambda r: r.url.endswith("/v1/practice/answers")) as answered:
        page.keyboard.press("Control+Enter")
    assert answered.value.status == 200
    expect(page.locator("#result-heading")).to_be_focused()

    with page.expect_response(lambda r: "/rating" in r.url):
        page.keyboard.press("2")
    expect(page.locator("#rating-status")).to_contain_text("Rated Hard")

    # The rating buttons are reachable with Tab too, and Enter presses them.
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.rating || ''") == "easy":
            break
    else:
        pytest.fail("the rating buttons cannot be reached with Tab")
    with page.expect_response(lambda r: "/rating" in r.url):
        page.keyboard.press("Enter")
    expect(page.locator("#rating-status")).to_contain_text("Rated Easy")
    expect(page.locator(".rating[data-rating='easy']")).to_be_focused()

    # N moves on (from anywhere but a text field), and the answer box gets the focus.
    page.locator("#result-heading").focus()
    with page.expect_response(lambda r: "/v1/practice/next" in r.url):
        page.keyboard.press("n")
    expect(page.get_by_label("Your answer")).to_be_focused()


def test_too_long_answer_disables_submit(page: Page) -> None:
    page.goto("/")
    _shown_question(page)
    box = page.get_by_label("Your answer")
    box.fill("x" * 20_001)
    submit = page.get_by_role("button", name="Submit", exact=True)
    expect(submit).to_be_disabled()
    expect(page.locator("#answer-limit")).to_contain_text("the limit is 20,000")
    # Code points, as the server counts: 20,000 emoji are 40,000 UTF-16 units but within the limit.
    box.fill("🙂" * 20_000)
    expect(submit).to_be_enabled()
    expect(page.locator("#answer-counter")).to_have_text("20,000 / 20,000 characters")


def test_server_errors_keep_the_answer_and_explain(page: Page) -> None:
    page.goto("/")
    _shown_question(page)
    box = page.get_by_label("Your answer")
    box.fill("Some answer the learner must not lose.")

    # The server says the answer is too long (its limit may differ from the page's): its message shows.
    problem = {"error": {"code": "answer_too_long", "message": "The answer has 38 characters; at most 10 allowed.",
                         "details": {"max_answer_chars": 10, "answer_chars": 38}}}
    page.route("**/v1/practice/answers", lambda route: route.fulfill(
        status=422, content_type="application/json", body=json.dumps(problem)))
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="at most 10 allowed")).to_be_visible()
    expect(box).to_have_value("Some answer the learner must not lose.")
    page.unroute("**/v1/practice/answers")

    # The server cannot be reached: say so, keep the answer, and Retry works once it is back.
    page.route("**/v1/**", lambda route: route.abort())
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_text("Cannot reach the dlgrader server")).to_be_visible()
    expect(box).to_have_value("Some answer the learner must not lose.")
    page.unroute("**/v1/**")
    with page.expect_response(lambda r: r.url.endswith("/v1/practice/answers")):
        page.get_by_role("button", name="Retry", exact=True).click()
    expect(page.locator("#result-heading")).to_be_visible()


def test_model_loading_is_retried_automatically(page: Page) -> None:
    page.goto("/")
    _shown_question(page)
    page.get_by_label("Your answer").fill("Dropout switches off random neurons while training.")
    refused: list[str] = []

    def not_ready_once(route: Route) -> None:
        if refused:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(status=503, content_type="application/json", headers={"Retry-After": "1"},
                      body=json.dumps({"error": {"code": "not_ready", "message": "Loading.", "details": {}}}))

    page.route("**/v1/practice/answers", not_ready_once)
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_text("The grading model is still loading")).to_be_visible()
    expect(page.locator("#result-heading")).to_be_visible()  # retried after Retry-After, without a click
    assert len(refused) == 1


def test_question_browser_search_and_detail(page: Page, server: apiserver.Server) -> None:
    page.goto("/#/questions")
    with page.expect_response(lambda r: "/v1/questions?" in r.url and "q=dropout" in r.url):
        page.get_by_label("Search", exact=True).fill("dropout")
    question = _question(server, "dropout")
    link = page.get_by_role("link", name=question["question"], exact=True)
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", name=question["question"], level=1)).to_be_visible()
    expect(page.locator(".reference-points > li")).to_have_count(len(question["key_points"]))
    expect(page.locator(".reference-points")).to_contain_text("core")
    source = page.locator(".source").first
    expect(source.locator(".source-label")).to_have_text(_label(question["sources"][0]))
    excerpt = source.locator("blockquote")
    expect(excerpt).to_be_hidden()
    source.locator("summary").click()
    expect(excerpt).to_have_text(question["sources"][0]["excerpt"])


def test_phone_width_has_no_horizontal_scroll(browser: Browser, server: apiserver.Server) -> None:
    context = browser.new_context(viewport=PHONE, base_url=server.url, is_mobile=True, has_touch=True)
    context.set_default_timeout(WAIT_MS)
    try:
        phone = context.new_page()
        phone.goto("/")
        _shown_question(phone)
        _no_horizontal_scroll(phone)
        phone.goto("/#/progress")
        expect(phone.locator(".days .day")).to_have_count(30)
        _no_horizontal_scroll(phone)
        phone.goto("/#/questions/dropout")
        expect(phone.locator(".source").first).to_be_visible()
        _no_horizontal_scroll(phone)
    finally:
        context.close()


def test_nothing_due_says_when_to_come_back(page: Page) -> None:
    done = {"question": None, "reason": "done", "card": None, "queue": {"due_now": 0, "new": 0, "learning": 0},
            "next_due": "2099-01-01T10:00:00+00:00"}
    page.route("**/v1/practice/next?**", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(done)))
    page.goto("/")
    expect(page.get_by_role("heading", name="Nothing is due — well done")).to_be_visible()
    expect(page.locator(".notice-done")).to_contain_text("The next review is due")
    expect(page.locator(".notice-done")).to_contain_text("2099")


def test_profile_switch_and_api_key_field(page: Page, server: apiserver.Server) -> None:
    page.goto("/#/progress")
    expect(page.locator(".headline-text")).to_contain_text("0 graded answers")
    profile = page.get_by_label("Profile")
    profile.fill("not a valid name!")
    profile.press("Enter")
    expect(page.locator("#profile-error")).to_contain_text("letters, digits")
    with page.expect_request(lambda r: "/v1/progress" in r.url) as sent:
        profile.fill("web-second")
        profile.press("Enter")
    assert sent.value.headers["x-learner"] == "web-second"
    expect(page.locator(".headline-text")).to_contain_text("Profile web-second: 0 graded answers")
    assert page.evaluate("localStorage.getItem('dlgrader.profile')") == "web-second"

    # A server with API keys says so in the page's settings: the key field appears and every request sends it.
    def with_keys(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace('"keys_required": false',
                                                                       '"keys_required": true'))

    page.route(f"{server.url}/", with_keys)
    page.reload()
    key = page.get_by_label("API key")
    expect(key).to_be_visible()
    expect(page.get_by_label("Profile")).to_be_hidden()
    with page.expect_request(lambda r: "/v1/progress" in r.url) as sent:
        key.fill("secret-key-1")
        key.press("Tab")
    assert sent.value.headers["x-api-key"] == "secret-key-1"
