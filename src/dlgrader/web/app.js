// dlgrader web practice app: plain ES2020, no framework, no build step, works offline.
// Every piece of server or learner text reaches the page through textContent (answers are untrusted).
"use strict";

(() => {
  // ------------------------------------------------------------------ configuration

  const DEFAULT_CONFIG = { max_answer_chars: 20000, keys_required: false, version: "" };
  const RATINGS = ["again", "hard", "good", "easy"];
  const DIFFICULTIES = ["beginner", "intermediate", "advanced"];
  const PROFILE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
  const CANNOT_REACH = "Cannot reach the dlgrader server — is dlgrader serve running?";
  const VERDICTS = {
    covered: { symbol: "✓", word: "covered" },
    partial: { symbol: "◐", word: "partial" },
    missing: { symbol: "○", word: "missing" },
    contradicted: { symbol: "✗", word: "contradicted" },
  };
  // The reason a card is shown, in the learner's words.
  const REASONS = {
    due: "due for review",
    new: "new question",
    relearn: "relearn: missed earlier in this session",
    ahead: "ahead of schedule (nothing is due)",
    chosen: "chosen from the question list",
  };

  /** The server puts its settings into the page as JSON; a page opened without it still works. */
  function readConfig() {
    const node = document.getElementById("dlgrader-config");
    if (!node) return { ...DEFAULT_CONFIG };
    try {
      const parsed = JSON.parse(node.textContent || "{}");
      const config = { ...DEFAULT_CONFIG, ...parsed };
      if (!Number.isInteger(config.max_answer_chars) || config.max_answer_chars < 1) {
        config.max_answer_chars = DEFAULT_CONFIG.max_answer_chars;
      }
      return config;
    } catch (_ignored) {
      return { ...DEFAULT_CONFIG };
    }
  }

  const config = readConfig();

  // ------------------------------------------------------------------ small helpers

  /** Build an element: h("p", {className: "x", onClick: fn, "aria-label": "y"}, "text", child, ...). */
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for") {
        node.setAttribute(key, String(value));
      } else if (key in node) {
        node[key] = value;
      } else {
        node.setAttribute(key, String(value));
      }
    }
    appendChildren(node, children);
    return node;
  }

  function appendChildren(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
  }

  function replaceChildren(node, ...children) {
    node.textContent = "";
    appendChildren(node, children);
  }

  /** "1 day", "2 days": counts always agree with their noun. */
  function plural(count, singular, pluralForm) {
    const word = count === 1 ? singular : (pluralForm || `${singular}s`);
    return `${formatNumber(count)} ${word}`;
  }

  function formatNumber(value, digits = 0) {
    return Number(value).toLocaleString("en", { maximumFractionDigits: digits });
  }

  function capitalise(text) {
    return text ? text[0].toUpperCase() + text.slice(1) : text;
  }

  /** Python counts answer length in code points; JavaScript's .length counts UTF-16 units. */
  function codePointLength(text) {
    let count = 0;
    for (const _char of text) count += 1;
    return count;
  }

  function formatDateTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function formatDay(isoDate) {
    // A bare date is a calendar day, not an instant: read it as local noon so no time zone shifts it.
    const date = new Date(`${isoDate}T12:00:00`);
    if (Number.isNaN(date.getTime())) return String(isoDate);
    return date.toLocaleDateString(undefined, { month: "short", day: "numeric" });
  }

  /** "in 3 days", "2 hours ago": for due dates. */
  function relativeTime(iso) {
    const diff = Date.parse(iso) - Date.now();
    if (Number.isNaN(diff)) return "";
    const units = [["day", 86400000], ["hour", 3600000], ["minute", 60000]];
    const format = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
    for (const [unit, size] of units) {
      if (Math.abs(diff) >= size) return format.format(Math.round(diff / size), unit);
    }
    return "now";
  }

  function randomSessionId() {
    // getRandomValues works on plain http too (randomUUID needs a secure context).
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (byte) => alphabet[byte % alphabet.length]).join("");
  }

  // localStorage can throw (privacy modes, disabled storage): the app then simply forgets on reload.
  function loadSetting(key, fallback) {
    try {
      return window.localStorage.getItem(key) ?? fallback;
    } catch (_ignored) {
      return fallback;
    }
  }

  function saveSetting(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (_ignored) {
      // Not stored: the value still applies to this page.
    }
  }

  let announceTimer = null;

  /** Tell screen-reader users what just happened (results, saved ratings). */
  function announce(text) {
    const region = document.getElementById("announcer");
    region.textContent = "";
    // Clearing first and writing a moment later makes a repeated message be read again.
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(() => { region.textContent = text; }, 60);
  }

  // Timers that belong to the current view (automatic retries): cancelled when the view changes.
  const viewTimers = new Set();

  function viewTimeout(callback, ms) {
    const id = window.setTimeout(() => { viewTimers.delete(id); callback(); }, ms);
    viewTimers.add(id);
    return id;
  }

  function clearViewTimers() {
    for (const id of viewTimers) window.clearTimeout(id);
    viewTimers.clear();
  }

  // ------------------------------------------------------------------ learner identity

  const identity = {
    profile: PROFILE_PATTERN.test(loadSetting("dlgrader.profile", "default"))
      ? loadSetting("dlgrader.profile", "default") : "default",
    apiKey: loadSetting("dlgrader.apiKey", ""),
  };

  // ------------------------------------------------------------------ HTTP

  class ApiError extends Error {
    constructor({ message, status = 0, code = "network", details = {}, retryAfter = null }) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
      this.retryAfter = retryAfter;
    }
  }

  function requestHeaders(hasBody) {
    const headers = { Accept: "application/json" };
    if (hasBody) headers["Content-Type"] = "application/json";
    if (config.keys_required || identity.apiKey) {
      if (identity.apiKey) headers["X-API-Key"] = identity.apiKey;
    }
    if (!config.keys_required) headers["X-Learner"] = identity.profile;
    return headers;
  }

  /** Call the API; resolves to the JSON body, rejects with an ApiError that the views can show. */
  async function api(path, { method = "GET", params = null, body } = {}) {
    const url = new URL(path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, String(value));
    }
    const init = { method, headers: requestHeaders(body !== undefined) };
    if (body !== undefined) init.body = JSON.stringify(body);
    let response;
    try {
      response = await fetch(url, init);
    } catch (_networkFailure) {
      throw new ApiError({ message: CANNOT_REACH });
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_notJson) {
      data = null;
    }
    if (response.ok && data !== null) return data;
    throw errorFromResponse(response, data);
  }

  function errorFromResponse(response, data) {
    const body = data && typeof data === "object" && data.error ? data.error : {};
    const retryHeader = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    return new ApiError({
      status: response.status,
      code: body.code || `http_${response.status}`,
      message: body.message || `The server answered ${response.status} ${response.statusText || ""}`.trim(),
      details: body.details,
      retryAfter: Number.isFinite(retryHeader) ? Math.max(1, retryHeader) : null,
    });
  }

  // ------------------------------------------------------------------ error display

  /** Fill `slot` with an explanation of `error` and a way out: Retry, or an automatic retry when the
   *  server says when to come back (503 while the model loads, 429 when rate limited). */
  function showError(slot, error, retry) {
    const box = h("div", { className: "notice notice-error" });
    if (error.code === "network") {
      box.append(h("p", {}, "Cannot reach the dlgrader server — is ", h("code", {}, "dlgrader serve"),
        " running?"));
    } else if (error.code === "not_ready") {
      box.append(h("p", {}, "The grading model is still loading…"));
    } else {
      box.append(h("p", {}, error.message));
      if (error.status === 401) box.append(h("p", {}, "Enter a valid API key at the top of the page."));
      appendSuggestions(box, error);
    }
    // Retrying helps only when the server was away, busy or broken; a refused request stays refused.
    const transient = error.code === "network" || error.status >= 500 || error.status === 429;
    if (retry && transient) box.append(retryControls(retry));
    replaceChildren(slot, box);
    // The countdown starts once the box is on the page: it stops by itself when the box goes away.
    if (retry && error.retryAfter && (error.status === 503 || error.status === 429)) {
      const countdown = h("span", { className: "countdown" });
      box.querySelector(".notice-actions").append(" ", countdown);
      startCountdown(countdown, error.retryAfter, retry);
    }
  }

  function appendSuggestions(box, error) {
    const suggestions = Array.isArray(error.details.suggestions) ? error.details.suggestions : [];
    if (!suggestions.length) return;
    box.append(h("p", {}, "Did you mean: ",
      suggestions.map((id, i) => [i ? ", " : "", h("a", { href: questionHref(id) }, id)]), "?"));
  }

  function retryControls(retry) {
    return h("p", { className: "notice-actions" },
      h("button", { type: "button", className: "button", onClick: retry }, "Retry"));
  }

  function startCountdown(node, seconds, retry) {
    let left = seconds;
    const tick = () => {
      if (!node.isConnected) return; // the view changed or the error was replaced
      if (left <= 0) {
        retry();
        return;
      }
      node.textContent = `Retrying automatically in ${plural(left, "second")}.`;
      left -= 1;
      viewTimeout(tick, 1000);
    };
    tick();
  }

  function clearSlot(slot) {
    if (slot) slot.textContent = "";
  }

  // ------------------------------------------------------------------ shared renderers

  function questionHref(id) {
    return `#/questions/${encodeURIComponent(id)}`;
  }

  function sourceLabel(source) {
    if (source.label) return source.label;
    return `${source.title || source.document}, ${source.locator}`;
  }

  function sourcesList(sources) {
    if (!sources || !sources.length) return h("p", { className: "muted" }, "No sources listed.");
    return h("ul", { className: "sources" }, sources.map((source) => h("li", { className: "source" },
      h("span", { className: "source-label" }, sourceLabel(source)),
      source.excerpt ? h("details", {},
        h("summary", {}, "Excerpt"),
        h("blockquote", {}, source.excerpt)) : null)));
  }

  function difficultyBadge(difficulty) {
    return h("span", { className: `badge badge-${difficulty}` }, difficulty);
  }

  function weightBadge(weight) {
    return h("span", { className: `badge badge-${weight}` }, weight === "supporting" ? "supporting" : "core");
  }

  function verdictLabel(verdict) {
    const info = VERDICTS[verdict] || { symbol: "?", word: verdict };
    return h("span", { className: `verdict verdict-${verdict}` },
      h("span", { className: "verdict-symbol", "aria-hidden": "true" }, info.symbol), " ", info.word);
  }

  function misconceptionBlock(wrong, correction, evidenceText) {
    return h("div", { className: "misconception" },
      evidenceText ? h("p", {}, h("strong", {}, "You wrote: "), h("q", {}, evidenceText)) : null,
      h("p", {}, h("strong", {}, "Common wrong belief: "), wrong),
      h("p", { className: "correction" }, h("strong", {}, "Correct: "), correction));
  }

  function topicOptions(selected) {
    const topics = state.topics || [];
    return [h("option", { value: "" }, "All topics"),
      topics.map((topic) => h("option", { value: topic.name, selected: topic.name === selected },
        `${topic.name} (${topic.question_count})`))];
  }

  function difficultyOptions(selected) {
    return [h("option", { value: "" }, "Any difficulty"),
      DIFFICULTIES.map((level) => h("option", { value: level, selected: level === selected }, level))];
  }

  function selectField(id, label, options, value, onChange) {
    const select = h("select", { id, onChange }, options);
    select.value = value; // set after the options exist, so the menu shows the current choice
    return h("div", { className: "field" }, h("label", { for: id }, label), select);
  }

  /** Refill a filter menu once the topics have arrived, keeping its choice. */
  function refillTopics(select, value) {
    replaceChildren(select, topicOptions(value));
    select.value = value;
  }

  /** Topics fill the filter menus; loaded once and kept (they do not change while the server runs). */
  async function ensureTopics() {
    if (state.topics) return state.topics;
    const data = await api("/v1/topics");
    state.topics = data.topics || [];
    return state.topics;
  }

  function viewHeading(text) {
    return h("h1", { tabIndex: -1, className: "view-heading" }, text);
  }

  // ------------------------------------------------------------------ app state

  const state = {
    topics: null,
    sessionId: randomSessionId(), // one practice session per page load
    route: { view: "practice" },
    interacted: false, // focus moves by script only after the learner has used the page (never on load)
    practice: {
      filters: { topic: "", difficulty: "" },
      generation: 0, // bumped for each new question: late answers to old requests are dropped
      question: null,
      reason: null,
      card: null,
      queue: null,
      nextDue: null,
      done: false,
      draft: "",
      outcome: null, // {kind: "graded", answer, data, rated, rating busy} or {kind: "revealed", data}
      busy: false,
      needsReload: false, // the learner changed: fetch their next card instead of showing this one
    },
    browse: { q: "", topic: "", difficulty: "", offset: 0, limit: 20 },
  };

  // ------------------------------------------------------------------ practice view

  const practiceDom = { errors: null, body: null };

  function renderPracticeView(root, route) {
    const filters = state.practice.filters;
    practiceDom.errors = h("div", { className: "error-slot", role: "alert" });
    practiceDom.body = h("div", { className: "practice-body" });
    practiceDom.queue = h("p", { className: "queue muted" });
    const filterForm = h("form", { className: "filters", onSubmit: (event) => event.preventDefault() },
      selectField("practice-topic", "Topic", topicOptions(filters.topic), filters.topic, onPracticeFilter),
      selectField("practice-difficulty", "Difficulty", difficultyOptions(filters.difficulty), filters.difficulty,
        onPracticeFilter));
    replaceChildren(root, h("section", { className: "view view-practice", "aria-labelledby": "practice-h" },
      Object.assign(viewHeading("Practice"), { id: "practice-h" }),
      filterForm, practiceDom.queue, practiceDom.errors, practiceDom.body));
    loadTopicsInto(filterForm);
    if (route.question && (!state.practice.question || state.practice.question.id !== route.question
      || state.practice.reason !== "chosen")) {
      loadChosenQuestion(route.question);
    } else if ((state.practice.question || state.practice.done) && !state.practice.needsReload) {
      renderPracticeBody();
    } else {
      loadNextQuestion();
    }
  }

  async function loadTopicsInto(form) {
    if (state.topics) return;
    try {
      await ensureTopics();
    } catch (_error) {
      return; // the question request reports the same problem, with its Retry
    }
    if (!form.isConnected) return;
    refillTopics(form.querySelector("#practice-topic"), state.practice.filters.topic);
  }

  function onPracticeFilter() {
    state.practice.filters = {
      topic: document.getElementById("practice-topic").value,
      difficulty: document.getElementById("practice-difficulty").value,
    };
    loadNextQuestion();
  }

  function showPracticeLoading(text) {
    replaceChildren(practiceDom.body, h("p", { className: "loading", "aria-busy": "true" }, text));
  }

  /** Ask the server which card comes next (due, relearn, new, ahead) under the chosen filters. */
  async function loadNextQuestion() {
    const practice = state.practice;
    const generation = ++practice.generation;
    const previousId = practice.outcome ? null : practice.question && practice.question.id;
    practice.needsReload = false;
    if (location.hash.includes("?")) history.replaceState(null, "", "#/practice");
    practice.outcome = null;
    practice.busy = false;
    clearSlot(practiceDom.errors);
    showPracticeLoading("Loading the next question…");
    let data;
    try {
      data = await api("/v1/practice/next", {
        params: { ...practice.filters, session_id: state.sessionId },
      });
    } catch (error) {
      if (generation !== practice.generation) return;
      replaceChildren(practiceDom.body);
      showError(practiceDom.errors, error, loadNextQuestion);
      return;
    }
    if (generation !== practice.generation) return;
    applyNext(data, previousId);
    renderPracticeBody();
    focusFirstField();
  }

  function applyNext(data, previousId) {
    const practice = state.practice;
    practice.done = data.reason === "done" || !data.question;
    practice.question = data.question || null;
    practice.reason = data.reason;
    practice.card = data.card || null;
    practice.queue = data.queue || null;
    practice.nextDue = data.next_due || null;
    // Keep what was typed if the same question comes back (e.g. after changing a filter).
    if (!practice.question || practice.question.id !== previousId) practice.draft = "";
  }

  /** Practise one question picked in the question browser. */
  async function loadChosenQuestion(id) {
    const practice = state.practice;
    const generation = ++practice.generation;
    practice.outcome = null;
    clearSlot(practiceDom.errors);
    showPracticeLoading("Loading the question…");
    try {
      const detail = await api(`/v1/questions/${encodeURIComponent(id)}`);
      if (generation !== practice.generation) return;
      applyNext({ question: detail, reason: "chosen", card: null, queue: practice.queue }, null);
      renderPracticeBody();
      focusFirstField();
    } catch (error) {
      if (generation !== practice.generation) return;
      replaceChildren(practiceDom.body);
      showError(practiceDom.errors, error, () => loadChosenQuestion(id));
    }
  }

  function focusFirstField() {
    // Only move focus when the learner is working in the practice view, never on first page load.
    if (state.route.view !== "practice" || !state.interacted) return;
    const field = document.getElementById("answer");
    if (field) field.focus();
  }

  function renderQueue() {
    const queue = state.practice.queue;
    if (!practiceDom.queue) return;
    practiceDom.queue.textContent = queue
      ? `${formatNumber(queue.due_now)} due now · ${formatNumber(queue.new)} new · ${formatNumber(queue.learning)} learning`
      : "";
  }

  function renderPracticeBody() {
    const practice = state.practice;
    renderQueue();
    if (practice.done) {
      replaceChildren(practiceDom.body, doneMessage());
      return;
    }
    if (!practice.question) return;
    const parts = [questionCard(practice)];
    if (!practice.outcome) parts.push(answerForm(practice));
    else if (practice.outcome.kind === "graded") parts.push(gradedOutcome(practice.outcome));
    else parts.push(revealedOutcome(practice.outcome));
    replaceChildren(practiceDom.body, parts);
    if (!practice.outcome) updateCounter();
  }

  function doneMessage() {
    const practice = state.practice;
    const filtered = practice.filters.topic || practice.filters.difficulty;
    const next = practice.nextDue
      ? `The next review is due ${relativeTime(practice.nextDue)} (${formatDateTime(practice.nextDue)}).`
      : "There is nothing scheduled yet.";
    return h("div", { className: "notice notice-done" },
      h("h2", { tabIndex: -1 }, "Nothing is due — well done"),
      h("p", {}, `You have worked through every question${filtered ? " that matches these filters" : ""}. ${next}`),
      h("p", { className: "notice-actions" },
        h("button", { type: "button", className: "button", onClick: loadNextQuestion }, "Check again"),
        filtered ? h("button", { type: "button", className: "button button-quiet", onClick: clearPracticeFilters },
          "Clear the filters") : null,
        h("a", { href: "#/progress", className: "button button-quiet" }, "See your progress")));
  }

  function clearPracticeFilters() {
    state.practice.filters = { topic: "", difficulty: "" };
    document.getElementById("practice-topic").value = "";
    document.getElementById("practice-difficulty").value = "";
    loadNextQuestion();
  }

  function questionCard(practice) {
    const question = practice.question;
    const card = practice.card;
    const history = card
      ? `Reviewed ${plural(card.reviews, "time")}${card.last_score === null || card.last_score === undefined
        ? "" : ` · last score ${formatNumber(card.last_score, 1)}`}`
      : null;
    return h("article", { className: "question-card", "data-question-id": question.id },
      h("p", { className: "question-meta" },
        h("span", {}, question.topic), " · ", difficultyBadge(question.difficulty), " · ",
        h("span", { className: `reason reason-${practice.reason}` }, REASONS[practice.reason] || practice.reason)),
      h("h2", { className: "question-text", id: "question-text" }, question.question),
      history ? h("p", { className: "muted small" }, history) : null);
  }

  function answerForm(practice) {
    const textarea = h("textarea", {
      id: "answer", name: "answer", rows: 9, spellcheck: true, value: practice.draft,
      "aria-describedby": "answer-counter answer-limit", onInput: onAnswerInput, onKeydown: onAnswerKeydown,
    });
    const form = h("form", { className: "answer-form", onSubmit: (event) => { event.preventDefault(); submitAnswer(); } },
      h("label", { for: "answer", className: "field-label" }, "Your answer"),
      textarea,
      h("div", { className: "answer-meta" },
        h("span", { id: "answer-counter", className: "counter" }),
        h("span", { className: "muted small" }, h("kbd", {}, "Ctrl"), "+", h("kbd", {}, "Enter"), " submits")),
      h("p", { id: "answer-limit", className: "field-error", role: "alert" }),
      h("div", { className: "actions" },
        h("button", { type: "submit", id: "submit-answer", className: "button button-primary" }, "Submit"),
        h("button", { type: "button", id: "reveal-answer", className: "button button-quiet", onClick: revealAnswer },
          "I don't know — show the answer")));
    return form;
  }

  function onAnswerInput(event) {
    state.practice.draft = event.target.value;
    updateCounter();
  }

  function onAnswerKeydown(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submitAnswer();
    }
  }

  /** Live count against the server's limit; too long disables Submit before anything is sent. */
  function updateCounter() {
    const counter = document.getElementById("answer-counter");
    const limitNote = document.getElementById("answer-limit");
    const submit = document.getElementById("submit-answer");
    if (!counter) return;
    const length = codePointLength(state.practice.draft);
    const max = config.max_answer_chars;
    const over = length > max;
    counter.textContent = `${formatNumber(length)} / ${formatNumber(max)} characters`;
    counter.classList.toggle("over", over);
    const message = over
      ? `Your answer is ${formatNumber(length)} characters long; the limit is ${formatNumber(max)}. `
        + `Shorten it by ${plural(length - max, "character")} to submit.`
      : "";
    if (limitNote.textContent !== message) limitNote.textContent = message;
    submit.disabled = over || state.practice.busy;
    document.getElementById("reveal-answer").disabled = state.practice.busy;
  }

  function setPracticeBusy(busy, text) {
    state.practice.busy = busy;
    const form = document.querySelector(".answer-form");
    if (form) {
      form.setAttribute("aria-busy", String(busy));
      const status = form.querySelector(".busy-note") || form.appendChild(h("p", { className: "busy-note muted" }));
      status.textContent = busy ? text : "";
    }
    updateCounter();
  }

  async function submitAnswer() {
    const practice = state.practice;
    if (practice.busy || !practice.question || practice.outcome) return;
    const answer = practice.draft;
    const limitNote = document.getElementById("answer-limit");
    if (!answer.trim()) {
      limitNote.textContent = "Write an answer first, or choose “I don't know — show the answer”.";
      return;
    }
    if (codePointLength(answer) > config.max_answer_chars) return; // the counter already says why
    const generation = practice.generation;
    clearSlot(practiceDom.errors);
    setPracticeBusy(true, "Grading your answer…");
    let data;
    try {
      data = await api("/v1/practice/answers", {
        method: "POST",
        body: { question_id: practice.question.id, answer, session_id: state.sessionId },
      });
    } catch (error) {
      if (generation !== practice.generation) return;
      setPracticeBusy(false, "");
      showError(practiceDom.errors, error, submitAnswer); // the typed answer stays in the box
      return;
    }
    if (generation !== practice.generation) return;
    practice.busy = false;
    practice.outcome = { kind: "graded", answer, data, rated: null, rating: false };
    renderPracticeBody();
    focusResult();
    announce(resultAnnouncement(data));
  }

  function resultAnnouncement(data) {
    const result = data.result || {};
    if (result.score === null || result.score === undefined) return result.summary || "Answer received.";
    return `Score ${formatNumber(result.score, 1)} out of 100, grade ${formatNumber(result.grade, 1)} out of 5. `
      + `Suggested rating: ${capitalise(data.suggested_rating)}.`;
  }

  function focusResult() {
    const heading = document.getElementById("result-heading");
    if (heading) heading.focus();
  }

  async function revealAnswer() {
    const practice = state.practice;
    if (practice.busy || !practice.question || practice.outcome) return;
    const generation = practice.generation;
    clearSlot(practiceDom.errors);
    setPracticeBusy(true, "Fetching the reference answer…");
    let data;
    try {
      data = await api("/v1/practice/reveal", {
        method: "POST", body: { question_id: practice.question.id, session_id: state.sessionId },
      });
    } catch (error) {
      if (generation !== practice.generation) return;
      setPracticeBusy(false, "");
      showError(practiceDom.errors, error, revealAnswer);
      return;
    }
    if (generation !== practice.generation) return;
    practice.busy = false;
    practice.outcome = { kind: "revealed", data };
    renderPracticeBody();
    focusResult();
    announce(`Reference answer shown. Next review ${data.interval || "soon"}.`);
  }

  // ------------------------------------------------------------------ the graded result

  function gradedOutcome(outcome) {
    const result = outcome.data.result || {};
    const keyPoints = result.key_points || [];
    return h("section", { className: "result", "aria-labelledby": "result-heading" },
      h("h2", { id: "result-heading", tabIndex: -1 }, "Your result"),
      scoreBlock(outcome.data),
      misconceptionsBlock(result.misconceptions || []),
      flagsBlock(result.flags || []),
      h("div", { className: "result-grid" },
        h("div", { className: "result-points" },
          h("h3", {}, "Key points"),
          verdictTally(keyPoints),
          h("ol", { className: "key-points" }, keyPoints.map(keyPointItem))),
        h("div", { className: "result-answer" },
          h("h3", { id: "own-answer-h" }, "Your answer"),
          markLegend(),
          markedAnswer(outcome.answer, evidenceSpans(result)))),
      referenceBlock(outcome.data.reference),
      ratingBar(outcome),
      nextBar());
  }

  function scoreBlock(data) {
    const result = data.result || {};
    if (result.score === null || result.score === undefined) {
      return h("div", { className: "score" }, h("p", {}, result.summary || `Not graded (${result.status}).`));
    }
    const credited = data.credited_score;
    return h("div", { className: "score" },
      h("p", { className: "score-line" },
        h("span", { className: "score-value" }, formatNumber(result.score, 1)),
        h("span", { className: "score-of" }, " / 100"),
        h("span", { className: "grade" }, `grade ${formatNumber(result.grade, 1)} / 5`)),
      h("div", { className: "meter", "aria-hidden": "true" },
        h("div", { className: "meter-fill", style: `width: ${Math.max(0, Math.min(100, result.score))}%` })),
      result.summary ? h("p", { className: "summary" }, result.summary) : null,
      credited !== undefined && credited !== null && Math.abs(credited - result.score) > 0.05
        ? h("p", { className: "muted small" }, `Stored as ${formatNumber(credited, 1)} after hints.`) : null);
  }

  function verdictTally(keyPoints) {
    const counts = {};
    for (const point of keyPoints) counts[point.verdict] = (counts[point.verdict] || 0) + 1;
    return h("p", { className: "tally" }, Object.keys(VERDICTS).filter((v) => counts[v]).map((verdict, i) =>
      [i ? " · " : "", verdictLabel(verdict), ` ${counts[verdict]}`]));
  }

  function keyPointItem(point) {
    const key = `kp-${point.index}`;
    const item = h("li", {
      className: `key-point kp-${point.verdict}`, tabIndex: 0, "data-point": key,
      onMouseenter: () => highlightPoint(key, true), onMouseleave: () => highlightPoint(key, false),
      onFocus: () => highlightPoint(key, true), onBlur: () => highlightPoint(key, false),
    },
    h("p", { className: "kp-head" }, verdictLabel(point.verdict), " ", weightBadge(point.weight)),
    h("p", { className: "kp-text" }, point.text),
    point.evidence && point.evidence.text
      ? h("p", { className: "kp-evidence" }, h("span", { className: "muted" }, "Your words: "), h("q", {}, point.evidence.text))
      : h("p", { className: "kp-evidence muted" }, "Not found in your answer."),
    point.note ? h("p", { className: "kp-note muted small" }, point.note) : null,
    point.misconception ? misconceptionBlock(point.misconception.text, point.misconception.correction, null) : null);
    return item;
  }

  function highlightPoint(key, on) {
    for (const mark of document.querySelectorAll(".answer-text mark")) {
      if ((mark.dataset.points || "").split(" ").includes(key)) mark.classList.toggle("is-active", on);
    }
    const item = document.querySelector(`.key-point[data-point="${key}"]`);
    if (item) item.classList.toggle("is-active", on);
  }

  function misconceptionsBlock(matches) {
    if (!matches.length) return null;
    return h("div", { className: "notice notice-misconception" },
      h("h3", {}, matches.length === 1 ? "A common misconception in your answer" : "Common misconceptions in your answer"),
      matches.map((match) => misconceptionBlock(match.text, match.correction, match.evidence && match.evidence.text)));
  }

  function flagsBlock(flags) {
    if (!flags.length) return null;
    return h("div", { className: "notice notice-flags" },
      h("h3", {}, "Flags"),
      h("ul", {}, flags.map((flag) => h("li", {},
        h("strong", {}, capitalise(String(flag.code).replace(/_/g, " "))), ": ", flag.message,
        flag.penalty ? h("span", { className: "muted" }, ` (−${formatNumber(flag.penalty, 1)} points)`) : null))));
  }

  function markLegend() {
    return h("p", { className: "legend small muted" }, "Highlights: ",
      h("mark", { className: "ev ev-covered legend-mark" }, "covered"), " ",
      h("mark", { className: "ev ev-partial legend-mark" }, "partial"), " ",
      h("mark", { className: "ev ev-contradicted legend-mark" }, "contradicted or misconception"),
      ". Hover or focus a key point to find its words.");
  }

  /** Every span of the answer the grader pointed at: key points' evidence and misconceptions. */
  function evidenceSpans(result) {
    const spans = [];
    for (const point of result.key_points || []) {
      if (!point.evidence) continue;
      spans.push({ ...point.evidence, key: `kp-${point.index}`, kind: point.verdict,
        label: `Key point ${point.index + 1}: ${(VERDICTS[point.verdict] || {}).word || point.verdict}` });
    }
    (result.misconceptions || []).forEach((match, i) => {
      if (match.evidence) spans.push({ ...match.evidence, key: `mc-${i}`, kind: "contradicted", label: "Misconception" });
    });
    return spans;
  }

  // When spans overlap, the strongest signal decides the colour (a contradiction beats a cover).
  const KIND_RANK = { contradicted: 3, covered: 2, partial: 1, missing: 0 };

  /** The learner's answer with each evidence span in a <mark>. Offsets count code points, so the answer
   *  is split with Array.from (string indices would be UTF-16 units and drift after an emoji). */
  function markedAnswer(answer, spans) {
    const chars = Array.from(answer);
    const placed = spans.map((span) => placeSpan(chars, answer, span)).filter(Boolean);
    const cuts = new Set([0, chars.length]);
    for (const span of placed) { cuts.add(span.start); cuts.add(span.end); }
    const bounds = [...cuts].sort((a, b) => a - b);
    const container = h("div", { className: "answer-text", "aria-labelledby": "own-answer-h", role: "region" });
    for (let i = 0; i + 1 < bounds.length; i += 1) {
      const [start, end] = [bounds[i], bounds[i + 1]];
      const text = chars.slice(start, end).join("");
      const covering = placed.filter((span) => span.start <= start && end <= span.end);
      if (!covering.length) {
        container.append(text);
        continue;
      }
      const strongest = covering.reduce((a, b) => (KIND_RANK[b.kind] > KIND_RANK[a.kind] ? b : a));
      container.append(h("mark", {
        className: `ev ev-${strongest.kind}`, title: covering.map((span) => span.label).join("; "),
        "data-points": covering.map((span) => span.key).join(" "),
        onMouseenter: () => covering.forEach((span) => highlightPoint(span.key, true)),
        onMouseleave: () => covering.forEach((span) => highlightPoint(span.key, false)),
      }, text));
    }
    return container;
  }

  /** A span's position in code points; if the offsets do not match its text, look the text up instead. */
  function placeSpan(chars, answer, span) {
    const valid = Number.isInteger(span.start) && Number.isInteger(span.end)
      && span.start >= 0 && span.start < span.end && span.end <= chars.length;
    if (valid && (!span.text || chars.slice(span.start, span.end).join("") === span.text)) return span;
    const found = span.text ? answer.indexOf(span.text) : -1;
    if (found < 0) return valid ? span : null;
    const start = codePointLength(answer.slice(0, found));
    return { ...span, start, end: start + codePointLength(span.text) };
  }

  function referenceBlock(reference) {
    if (!reference) return null;
    return h("section", { className: "reference", "aria-labelledby": "reference-h" },
      h("h3", { id: "reference-h" }, "Reference answer"),
      h("p", { className: "reference-text" }, reference.reference_answer),
      h("h4", {}, "Sources"),
      sourcesList(reference.sources));
  }

  function ratingBar(outcome) {
    const data = outcome.data;
    const chosen = outcome.rated ? outcome.rated.rating : data.rating || data.suggested_rating;
    const group = h("div", { className: "rating-buttons", role: "group", "aria-labelledby": "rating-h" },
      RATINGS.map((rating, i) => h("button", {
        type: "button", className: `button rating rating-${rating}`, "data-rating": rating,
        // Not disabled while saving: a disabled button would drop keyboard focus to <body>.
        "aria-pressed": String(rating === chosen),
        onClick: () => rateAttempt(rating),
      }, h("kbd", { "aria-hidden": "true" }, String(i + 1)), " ", capitalise(rating),
      rating === data.suggested_rating ? h("span", { className: "suggested-tag" }, " (suggested)") : null)));
    return h("section", { className: "rating-bar", "aria-labelledby": "rating-h" },
      h("h3", { id: "rating-h" }, "How well did you know it?"),
      h("p", { className: "suggestion" },
        `Suggested: ${capitalise(data.suggested_rating)} — next review ${data.interval}`),
      group,
      h("p", { className: "rating-status", id: "rating-status", "aria-live": "polite" }, ratingStatus(outcome)),
      h("div", { className: "error-slot", id: "rating-errors", role: "alert" }));
  }

  function ratingStatus(outcome) {
    if (outcome.rating) return "Saving your rating…";
    const rated = outcome.rated;
    if (!rated) return "Press a rating to confirm or change it (keys 1–4).";
    const changed = rated.suggested_rating && rated.rating !== rated.suggested_rating
      ? ` (changed from ${capitalise(rated.suggested_rating)})` : "";
    return `Rated ${capitalise(rated.rating)}${changed} — next review ${rated.interval}`;
  }

  function nextBar() {
    return h("p", { className: "next-bar" },
      h("button", { type: "button", id: "next-question", className: "button button-primary", onClick: loadNextQuestion },
        "Next question ", h("kbd", { "aria-hidden": "true" }, "N")));
  }

  function refreshRatingBar(outcome) {
    const old = document.querySelector(".rating-bar");
    if (!old) return;
    const focusedRating = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.rating : null;
    const fresh = ratingBar(outcome);
    old.replaceWith(fresh);
    // Keep keyboard focus where it was: a re-rendered button must not drop it to <body>.
    if (focusedRating) fresh.querySelector(`[data-rating="${focusedRating}"]`).focus();
  }

  /** Confirm or override the suggested rating; the server reschedules the card. */
  async function rateAttempt(rating) {
    const outcome = state.practice.outcome;
    if (!outcome || outcome.kind !== "graded" || outcome.rating) return;
    outcome.rating = true;
    refreshRatingBar(outcome);
    let rated;
    try {
      rated = await api(`/v1/practice/attempts/${encodeURIComponent(outcome.data.attempt_id)}/rating`, {
        method: "POST", body: { rating },
      });
    } catch (error) {
      outcome.rating = false;
      if (state.practice.outcome !== outcome) return;
      refreshRatingBar(outcome);
      // A locked rating cannot be changed by trying again: no Retry button then.
      showError(document.getElementById("rating-errors"), error, error.status === 409 ? null : () => rateAttempt(rating));
      return;
    }
    outcome.rating = false;
    outcome.rated = rated;
    if (state.practice.outcome !== outcome) return;
    refreshRatingBar(outcome);
    announce(ratingStatus(outcome));
  }

  function revealedOutcome(outcome) {
    const data = outcome.data;
    return h("section", { className: "result", "aria-labelledby": "result-heading" },
      h("h2", { id: "result-heading", tabIndex: -1 }, "The answer"),
      h("p", { className: "notice" },
        `Marked as not known (rated ${capitalise(data.rating || "again")}) — next review ${data.interval}.`),
      referenceBlock(data.reference),
      data.reference && data.reference.key_points
        ? h("section", { "aria-labelledby": "ref-kp-h" },
          h("h3", { id: "ref-kp-h" }, "Key points"),
          referenceKeyPoints(data.reference.key_points))
        : null,
      nextBar());
  }

  // ------------------------------------------------------------------ keyboard shortcuts

  function isTypingTarget(target) {
    return Boolean(target.closest && target.closest("input, textarea, select, [contenteditable='true']"));
  }

  function isActivatable(target) {
    return Boolean(target.closest && target.closest("button, a, summary, input, textarea, select, [tabindex='0']"));
  }

  /** 1-4 rate, N (or Enter outside a control) moves on; never while the learner types. */
  function onGlobalKeydown(event) {
    state.interacted = true;
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (state.route.view !== "practice" || isTypingTarget(event.target)) return;
    const outcome = state.practice.outcome;
    if (!outcome) return;
    const number = Number.parseInt(event.key, 10);
    if (outcome.kind === "graded" && number >= 1 && number <= 4) {
      event.preventDefault();
      rateAttempt(RATINGS[number - 1]);
    } else if (event.key === "n" || event.key === "N"
      || (event.key === "Enter" && !isActivatable(event.target))) {
      event.preventDefault();
      loadNextQuestion();
    }
  }

  // ------------------------------------------------------------------ progress view

  async function renderProgressView(root) {
    const slot = h("div", { className: "error-slot", role: "alert" });
    const body = h("div", { className: "progress-body" }, h("p", { className: "loading" }, "Loading your progress…"));
    replaceChildren(root, h("section", { className: "view view-progress", "aria-labelledby": "progress-h" },
      Object.assign(viewHeading("Progress"), { id: "progress-h" }), slot, body));
    const load = async () => {
      clearSlot(slot);
      let data;
      try {
        data = await api("/v1/progress", { params: { days: 30 } });
      } catch (error) {
        if (!body.isConnected) return;
        replaceChildren(body);
        showError(slot, error, load);
        return;
      }
      if (!body.isConnected) return;
      replaceChildren(body, progressContent(data));
    };
    await load();
  }

  function progressContent(data) {
    return [
      progressHeadline(data),
      topicsTable(data.topics || []),
      historyChart(data.history || []),
      dueCards(data.due_cards || []),
      weakestPoints(data.weakest_key_points || []),
    ];
  }

  function progressHeadline(data) {
    const tiles = [
      ["Questions seen", `${formatNumber(data.questions_seen)} / ${formatNumber(data.questions_total)}`],
      ["Due now", formatNumber(data.due_now)],
      ["Due today", formatNumber(data.due_today)],
      ["Streak", plural(data.streak_days, "day")],
    ];
    const last = data.last_practice ? ` Last practice: ${formatDay(data.last_practice)}.` : "";
    return h("section", { className: "headline", "aria-label": "Summary" },
      h("p", { className: "headline-text" },
        `Profile ${data.learner}: ${plural(data.graded, "graded answer")} in ${plural(data.attempts, "attempt")}`
        + ` on ${plural(data.practice_days, "day")} of practice.${last}`),
      h("dl", { className: "tiles" }, tiles.map(([label, value]) => h("div", { className: "tile" },
        h("dt", {}, label), h("dd", {}, value)))));
  }

  function topicsTable(topics) {
    const rows = topics.map((topic) => h("tr", {},
      h("th", { scope: "row" }, breakable(topic.topic)),
      h("td", {}, `${topic.seen} / ${topic.questions}`),
      h("td", { className: "mastery-cell" },
        h("span", { className: "bar-track", "aria-hidden": "true" },
          h("span", { className: "bar-fill", style: `width: ${clampPercent(topic.mastery)}%` })),
        h("span", { className: "bar-value" }, `${formatNumber(topic.mastery, 0)}%`)),
      h("td", {}, topic.average_score === null || topic.average_score === undefined ? "—" : formatNumber(topic.average_score, 0)),
      h("td", {}, formatNumber(topic.due))));
    return h("section", { "aria-labelledby": "mastery-h" },
      h("h2", { id: "mastery-h" }, "Mastery by topic"),
      topics.length ? h("div", { className: "table-wrap" }, h("table", { className: "mastery" },
        h("thead", {}, h("tr", {}, ["Topic", "Seen", "Mastery", "Avg score", "Due"].map((name) =>
          h("th", { scope: "col" }, name)))),
        h("tbody", {}, rows))) : h("p", { className: "muted" }, "No topics yet."));
  }

  /** Topic ids are snake_case: let them wrap after an underscore on a narrow screen. */
  function breakable(name) {
    return String(name).split("_").map((part, i) => (i ? [h("wbr"), `_${part}`] : part));
  }

  function clampPercent(value) {
    return Math.max(0, Math.min(100, Number(value) || 0));
  }

  /** Reviews per day as CSS bars; each bar carries its numbers as text for screen readers and a tooltip. */
  function historyChart(history) {
    const most = Math.max(1, ...history.map((day) => day.reviews || 0));
    const total = history.reduce((sum, day) => sum + (day.reviews || 0), 0);
    const active = history.filter((day) => day.reviews).length;
    const bars = history.map((day) => {
      const text = `${formatDay(day.date)}: ${plural(day.reviews || 0, "review")}`
        + (day.again ? `, ${day.again} again` : "")
        + (day.mean_score === null || day.mean_score === undefined ? "" : `, mean score ${formatNumber(day.mean_score, 0)}`);
      return h("li", { className: "day", title: text },
        h("span", { className: "day-bar", style: `height: ${(100 * (day.reviews || 0)) / most}%` },
          day.again ? h("span", { className: "day-again", style: `height: ${(100 * day.again) / day.reviews}%` }) : null),
        h("span", { className: "visually-hidden" }, text));
    });
    const first = history[0];
    const last = history[history.length - 1];
    return h("section", { "aria-labelledby": "history-h" },
      h("h2", { id: "history-h" }, `The last ${plural(history.length, "day")}`),
      h("p", { className: "muted" }, `${plural(total, "review")} on ${plural(active, "day")}. `
        + "Darker part of a bar: answers rated Again."),
      h("figure", { className: "chart" },
        h("ol", { className: "days", "aria-label": "Reviews per day" }, bars),
        first ? h("figcaption", { className: "chart-axis small muted" },
          h("span", {}, formatDay(first.date)), h("span", {}, `most in a day: ${most}`), h("span", {}, formatDay(last.date))) : null));
  }

  function dueCards(cards) {
    return h("section", { "aria-labelledby": "due-h" },
      h("h2", { id: "due-h" }, "Due cards"),
      cards.length ? h("ul", { className: "plain-list" }, cards.map((card) => h("li", {},
        h("a", { href: questionHref(card.question_id) }, card.question || card.question_id),
        h("span", { className: "muted small" }, ` · ${card.topic} · due ${relativeTime(card.due)}`
          + (card.last_score === null || card.last_score === undefined ? "" : ` · last score ${formatNumber(card.last_score, 0)}`)))))
        : h("p", { className: "muted" }, "Nothing is due."));
  }

  function weakestPoints(points) {
    return h("section", { "aria-labelledby": "weak-h" },
      h("h2", { id: "weak-h" }, "Weakest key points"),
      points.length ? h("ol", { className: "plain-list" }, points.map((point) => h("li", {},
        h("span", {}, point.text), " ",
        h("span", { className: "muted small" }, `— ${missedText(point)} · `),
        h("a", { href: questionHref(point.question_id), className: "small" }, point.question_id))))
        : h("p", { className: "muted" }, "No key point stands out yet."));
  }

  /** "missed in 2 of 3 attempts, partly covered in 1" (the zero half is left out). */
  function missedText(point) {
    const parts = [];
    if (point.missed) parts.push(`missed in ${point.missed}`);
    if (point.partial) parts.push(`partly covered in ${point.partial}`);
    const first = parts.length ? parts[0] : "missed in 0";
    const rest = parts.slice(1).map((part) => `, ${part}`).join("");
    return `${first} of ${plural(point.attempts, "attempt")}${rest}`;
  }

  // ------------------------------------------------------------------ question browser

  const browseDom = { list: null, errors: null };
  let searchTimer = null;

  function renderQuestionsView(root) {
    const browse = state.browse;
    browseDom.errors = h("div", { className: "error-slot", role: "alert" });
    browseDom.list = h("div", { className: "question-list" });
    const search = h("input", { id: "question-search", type: "search", value: browse.q, maxLength: 200,
      placeholder: "e.g. dropout", onInput: onSearchInput });
    const form = h("form", { className: "filters", role: "search", onSubmit: (event) => { event.preventDefault(); onBrowseFilter(); } },
      h("div", { className: "field field-grow" }, h("label", { for: "question-search" }, "Search"), search),
      selectField("browse-topic", "Topic", topicOptions(browse.topic), browse.topic, onBrowseFilter),
      selectField("browse-difficulty", "Difficulty", difficultyOptions(browse.difficulty), browse.difficulty,
        onBrowseFilter),
      h("div", { className: "field field-button" }, h("button", { type: "submit", className: "button" }, "Search")));
    replaceChildren(root, h("section", { className: "view view-questions", "aria-labelledby": "questions-h" },
      Object.assign(viewHeading("Questions"), { id: "questions-h" }), form, browseDom.errors, browseDom.list));
    ensureTopics().then(() => {
      if (form.isConnected) refillTopics(form.querySelector("#browse-topic"), state.browse.topic);
    }, () => {});
    loadQuestionPage();
  }

  function onSearchInput() {
    window.clearTimeout(searchTimer);
    // Wait for a pause in typing instead of sending a request per key.
    searchTimer = window.setTimeout(onBrowseFilter, 250);
  }

  function onBrowseFilter() {
    window.clearTimeout(searchTimer);
    if (!document.getElementById("question-search")) return; // the learner has left the list meanwhile
    state.browse = {
      ...state.browse, offset: 0,
      q: document.getElementById("question-search").value.trim(),
      topic: document.getElementById("browse-topic").value,
      difficulty: document.getElementById("browse-difficulty").value,
    };
    loadQuestionPage();
  }

  let browseRequest = 0;

  async function loadQuestionPage() {
    const request = ++browseRequest;
    const browse = state.browse;
    clearSlot(browseDom.errors);
    browseDom.list.setAttribute("aria-busy", "true");
    let page;
    try {
      page = await api("/v1/questions", { params: {
        q: browse.q, topic: browse.topic, difficulty: browse.difficulty, limit: browse.limit, offset: browse.offset,
      } });
    } catch (error) {
      if (request !== browseRequest || !browseDom.list.isConnected) return;
      browseDom.list.removeAttribute("aria-busy");
      showError(browseDom.errors, error, loadQuestionPage);
      return;
    }
    if (request !== browseRequest || !browseDom.list.isConnected) return;
    browseDom.list.removeAttribute("aria-busy");
    replaceChildren(browseDom.list, questionPage(page));
    // The list itself is not a live region (it would be read in full): say how many were found.
    if (state.interacted) announce(`${plural(page.total, "question")} found.`);
  }

  function questionPage(page) {
    if (!page.items.length) return h("p", { className: "muted" }, "No question matches. Try fewer words or other filters.");
    const from = page.offset + 1;
    const to = page.offset + page.items.length;
    return [
      h("p", { className: "muted small" }, `Showing ${from}–${to} of ${plural(page.total, "question")}`),
      h("ul", { className: "question-items" }, page.items.map((item) => h("li", {},
        h("a", { href: questionHref(item.id), className: "question-link" }, item.question),
        h("span", { className: "question-meta small" }, item.topic, " · ", difficultyBadge(item.difficulty), " · ",
          plural(item.key_point_count, "key point"))))),
      h("nav", { className: "pager", "aria-label": "Pages" },
        h("button", { type: "button", className: "button", disabled: page.offset === 0,
          onClick: () => gotoOffset(Math.max(0, page.offset - page.limit)) }, "← Previous"),
        h("button", { type: "button", className: "button", disabled: page.next_offset === null || page.next_offset === undefined,
          onClick: () => gotoOffset(page.next_offset) }, "Next →")),
    ];
  }

  function gotoOffset(offset) {
    state.browse.offset = offset;
    loadQuestionPage().then(() => {
      const heading = document.getElementById("questions-h");
      if (heading) heading.focus();
    });
  }

  async function renderQuestionDetail(root, route) {
    const slot = h("div", { className: "error-slot", role: "alert" });
    const body = h("div", {}, h("p", { className: "loading" }, "Loading the question…"));
    replaceChildren(root, h("section", { className: "view view-question" },
      h("p", {}, h("a", { href: "#/questions" }, "← All questions")), slot, body));
    const load = async () => {
      clearSlot(slot);
      let detail;
      try {
        detail = await api(`/v1/questions/${encodeURIComponent(route.id)}`);
      } catch (error) {
        if (!body.isConnected) return;
        replaceChildren(body, viewHeading("Question not shown"));
        showError(slot, error, error.status === 404 ? null : load);
        return;
      }
      if (!body.isConnected) return;
      replaceChildren(body, questionDetail(detail));
      document.title = `${detail.question} · dlgrader`;
      if (state.interacted) body.querySelector("h1").focus();
    };
    await load();
  }

  function questionDetail(detail) {
    const aliases = detail.aliases || [];
    return [
      viewHeading(detail.question),
      h("p", { className: "question-meta" }, detail.topic, " · ", difficultyBadge(detail.difficulty), " · ",
        h("a", { href: `#/practice?question=${encodeURIComponent(detail.id)}` }, "Practise this question")),
      aliases.length ? h("details", { className: "aliases" },
        h("summary", {}, `Also asked as (${aliases.length})`),
        h("ul", {}, aliases.map((alias) => h("li", {}, alias)))) : null,
      h("h2", {}, "Reference answer"),
      h("p", { className: "reference-text" }, detail.reference_answer),
      h("h2", {}, "Key points"),
      referenceKeyPoints(detail.key_points || []),
      (detail.misconceptions || []).length ? [
        h("h2", {}, "Common misconceptions"),
        h("ul", { className: "plain-list" }, detail.misconceptions.map((m) => h("li", {},
          misconceptionBlock(m.text, m.correction, null)))),
      ] : null,
      h("h2", {}, "Sources"),
      sourcesList(detail.sources),
    ];
  }

  function referenceKeyPoints(points) {
    return h("ol", { className: "reference-points" }, points.map((point) => h("li", {},
      h("p", {}, weightBadge(point.weight), " ", point.text),
      point.editorial ? h("p", { className: "editorial small" },
        h("strong", {}, "Editorial correction: "), point.editorial.reason,
        point.editorial.source_says ? [" The source says: ", h("q", {}, point.editorial.source_says)] : null) : null)));
  }

  // ------------------------------------------------------------------ identity form

  function setUpIdentity() {
    const profileInput = document.getElementById("profile-name");
    const keyField = document.getElementById("api-key-field");
    const keyInput = document.getElementById("api-key");
    profileInput.value = identity.profile;
    profileInput.addEventListener("change", onProfileChange);
    document.getElementById("identity").addEventListener("submit", (event) => {
      event.preventDefault();
      onProfileChange();
    });
    if (config.keys_required) {
      keyField.hidden = false;
      keyInput.value = identity.apiKey;
      keyInput.addEventListener("change", () => {
        identity.apiKey = keyInput.value.trim();
        saveSetting("dlgrader.apiKey", identity.apiKey);
        resetPractice();
        renderRoute({ focus: false });
      });
      // With keys, progress belongs to the key: a profile name would mislead.
      profileInput.closest(".field").hidden = true;
    }
  }

  function onProfileChange() {
    const input = document.getElementById("profile-name");
    const error = document.getElementById("profile-error");
    const name = input.value.trim() || "default";
    if (!PROFILE_PATTERN.test(name)) {
      error.textContent = "A profile name uses letters, digits, '.', '_' or '-' (at most 64).";
      input.setAttribute("aria-invalid", "true");
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    input.value = name;
    if (name === identity.profile) return;
    identity.profile = name;
    saveSetting("dlgrader.profile", name);
    announce(`Profile ${name}.`);
    resetPractice();
    renderRoute({ focus: false }); // the learner is still in the profile field: leave focus there
  }

  /** Another learner: their queue, not the one on screen. The question stays known, so a typed answer is
   *  kept if the new queue starts with the same question. */
  function resetPractice() {
    const practice = state.practice;
    practice.generation += 1;
    practice.needsReload = true;
    practice.outcome = null;
    practice.busy = false;
  }

  // ------------------------------------------------------------------ routing

  function parseRoute() {
    const raw = window.location.hash.replace(/^#\/?/, "");
    const [path, query = ""] = raw.split("?");
    const parts = path.split("/").filter(Boolean);
    const params = new URLSearchParams(query);
    if (parts[0] === "progress") return { view: "progress" };
    if (parts[0] === "questions" && parts.length > 1) {
      return { view: "question", id: decodeURIComponent(parts.slice(1).join("/")) };
    }
    if (parts[0] === "questions") return { view: "questions" };
    return { view: "practice", question: params.get("question") };
  }

  const VIEWS = {
    practice: { title: "Practice", nav: "practice", render: renderPracticeView },
    progress: { title: "Progress", nav: "progress", render: renderProgressView },
    questions: { title: "Questions", nav: "questions", render: renderQuestionsView },
    question: { title: "Question", nav: "questions", render: renderQuestionDetail },
  };

  function renderRoute({ focus = true } = {}) {
    clearViewTimers();
    window.clearTimeout(searchTimer);
    const route = parseRoute();
    state.route = route;
    const view = VIEWS[route.view];
    document.title = `${view.title} · dlgrader`;
    for (const link of document.querySelectorAll(".nav-list a")) {
      if (link.dataset.view === view.nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const root = document.getElementById("view");
    view.render(root, route);
    // After a navigation, start keyboard and screen-reader users at the new view's heading.
    if (focus && state.interacted && route.view !== "question") {
      const heading = root.querySelector("h1");
      if (heading) heading.focus();
    }
  }

  function start() {
    document.getElementById("app-version").textContent = config.version || "";
    setUpIdentity();
    document.querySelector(".skip-link").addEventListener("click", (event) => {
      event.preventDefault(); // "#view" would be read as a route
      document.getElementById("view").focus();
    });
    document.addEventListener("keydown", onGlobalKeydown);
    document.addEventListener("pointerdown", () => { state.interacted = true; });
    window.addEventListener("hashchange", () => renderRoute());
    renderRoute();
  }

  start();
})();
