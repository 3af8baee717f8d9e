// Keyboard-first annotation: digits pick an option of the highlighted question, Enter submits, S skips.
// Loaded as a file (the Content-Security-Policy forbids inline script); without it the form still posts.
(function () {
  "use strict";
  var form = document.getElementById("answers");
  if (!form) { return; }
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var status = document.getElementById("status");
  var token = form.querySelector("input[name=form_token]").value;
  var current = 0;
  var busy = false;

  function answered(q) { return q.querySelector("input:checked") !== null; }
  function firstMissing(from) {
    for (var i = 0; i < questions.length; i++) {
      var j = (from + i) % questions.length;
      if (!answered(questions[j])) { return j; }
    }
    return -1;
  }
  function focusQuestion(i) {
    if (!questions.length) { return; }
    current = Math.max(0, Math.min(questions.length - 1, i));
    questions.forEach(function (q, j) { q.classList.toggle("current", j === current); });
    questions[current].scrollIntoView({block: "nearest"});
  }
  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }
  function afterPick() {
    var next = firstMissing(current);
    if (next < 0) { say("Every question is answered: Enter submits."); }
    else { say(""); focusQuestion(next); }
  }
  function pick(input) {
    if (!input) { return; }
    input.checked = true;
    afterPick();
  }
  function post(url, body) {
    if (busy) { return; }
    busy = true;
    say("Saving…");
    fetch(url, {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-Form-Token": token},
                body: JSON.stringify(body)})
      .then(function (r) {
        if (r.ok) { window.location.assign(form.dataset.next); return null; }
        return r.json().then(function (j) { throw new Error(j.error || ("not saved (" + r.status + ")")); },
                             function () { throw new Error("not saved (" + r.status + ")"); });
      })
      .catch(function (e) { busy = false; say("Not saved: " + e.message, true); });
  }
  function submit() {
    var missing = firstMissing(0);
    if (missing >= 0) {
      focusQuestion(missing);
      say("Question " + (missing + 1) + " needs an answer.", true);
      return;
    }
    var answers = {};
    questions.forEach(function (q) {
      var v = q.querySelector("input:checked").value;
      answers[q.dataset.dimension] = v === "__na__" ? null : v;
    });
    post(form.dataset.api, {answers: answers});
  }
  function skip() { post(form.dataset.api + "/skip", {}); }

  questions.forEach(function (q, j) {
    q.addEventListener("click", function () { focusQuestion(j); });
    q.addEventListener("change", function () { current = j; afterPick(); });
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (e.submitter && e.submitter.classList.contains("skip")) { skip(); } else { submit(); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || !questions.length) { return; }
    var t = e.target;
    if (t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type === "text"))) { return; }
    var k = e.key;
    var q = questions[current];
    if (/^[1-9]$/.test(k)) {
      var opts = q.querySelectorAll("input[type=radio]:not([value=__na__])");
      pick(opts[parseInt(k, 10) - 1]);
      e.preventDefault();
    } else if (k === "0" || k === "n" || k === "N") {
      pick(q.querySelector("input[value=__na__]"));
      e.preventDefault();
    } else if (k === "Enter") {
      e.preventDefault();
      submit();
    } else if ((k === "s" || k === "S") && form.querySelector("button.skip")) {
      e.preventDefault();
      skip();
    } else if (k === "ArrowDown" || k === "j") {
      e.preventDefault();
      focusQuestion(current + 1);
    } else if (k === "ArrowUp" || k === "k" || k === "Backspace") {
      e.preventDefault();
      focusQuestion(current - 1);
    }
  });
  var start = firstMissing(0);
  focusQuestion(start < 0 ? 0 : start);
}());
