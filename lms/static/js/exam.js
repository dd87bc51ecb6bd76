/* Taking a test (templates/exams/take.html). The server owns the clock and the answer key:
 * - every answer is saved as soon as it changes (text after a short pause); while the connection is
 *   down the answers wait in localStorage and go up when it returns, so a dropped phone loses nothing;
 * - the countdown is the server's (seconds_left), and at zero the page asks the server, which has
 *   submitted the attempt; a late save is refused by the server, never "accepted" here;
 * - one device at a time: the attempt's device token is kept per test in localStorage.
 */
(function () {
  "use strict";
  var root = document.querySelector("[data-exam]");
  if (!root || !window.LmsApi) return;
  var api = root.dataset.api, examId = root.dataset.examId;
  var $ = function (role) { return root.querySelector('[data-role="' + role + '"]'); };
  var button = function (action) { return root.querySelector('[data-action="' + action + '"]'); };
  var tokenKey = "lms-exam-token-" + examId;
  var state = { attempt: null, page: 0, pending: {}, saving: false, deadline: null, timer: null, done: false };
  var TYPE_LABELS = { single: "单选题", multiple: "多选题", true_false: "判断题", fill_blank: "填空题", short_answer: "简答题" };

  function show(el, on) { if (el) el.hidden = !on; }
  function error(message) { var el = $("error"); el.textContent = message || ""; show(el, !!message); }
  function saveStatus(text) { $("save").textContent = text; }
  function headers() { return { "X-Attempt-Token": localStorage.getItem(tokenKey) || "" }; }
  function backupKey() { return "lms-exam-pending-" + (state.attempt ? state.attempt.id : "x"); }
  function persist() { try { localStorage.setItem(backupKey(), JSON.stringify(state.pending)); } catch (e) { /* full */ } }

  function start() {
    error("");
    button("start").disabled = true;
    LmsApi.post(api + "/exams/" + examId + "/attempts", {}, { headers: headers() }).then(function (data) {
      if (data.device_token) localStorage.setItem(tokenKey, data.device_token);
      load(data);
    }, function (e) {
      button("start").disabled = false;
      error(e.message);
    });
  }

  function load(data) {
    state.attempt = data;
    show(button("start"), false);
    if (data.status !== "in_progress") return finished(data);
    try { state.pending = JSON.parse(localStorage.getItem(backupKey()) || "{}"); } catch (e) { state.pending = {}; }
    render(data);
    show($("bar"), true);
    show(button("submit"), true);
    if (data.seconds_left !== null && data.seconds_left !== undefined) {
      state.deadline = Date.now() + data.seconds_left * 1000;
      tick();
      state.timer = setInterval(tick, 500);
    } else {
      $("timer").textContent = "不限时";
    }
    flush();
  }

  function answerOf(item) {
    var key = String(item.position);
    return Object.prototype.hasOwnProperty.call(state.pending, key) ? state.pending[key] : item.answer;
  }

  function render(data) {
    var paper = $("paper");
    paper.textContent = "";
    data.items.forEach(function (item, index) {
      var q = item.question, saved = answerOf(item) || {};
      var box = document.createElement("fieldset");
      box.className = "exam-question";
      box.dataset.position = item.position;
      var title = document.createElement("h2");
      title.textContent = (index + 1) + ". [" + (TYPE_LABELS[q.type] || "") + "] " + q.stem + " ";
      var marks = document.createElement("span");
      marks.className = "marks";
      marks.textContent = "（" + item.marks + " 分）";
      title.appendChild(marks);
      box.appendChild(title);
      var name = "q" + item.position;
      if (q.type === "single" || q.type === "multiple") {
        q.options.forEach(function (option, i) {
          var label = document.createElement("label");
          label.className = "exam-option";
          var input = document.createElement("input");
          input.type = q.type === "single" ? "radio" : "checkbox";
          input.name = name;
          input.value = option.key;
          input.checked = q.type === "single" ? saved.choice === option.key : (saved.choices || []).indexOf(option.key) >= 0;
          label.appendChild(input);
          label.appendChild(document.createTextNode(String.fromCharCode(65 + i) + ". " + option.text));
          box.appendChild(label);
        });
      } else if (q.type === "true_false") {
        [[true, "对（正确）"], [false, "错（错误）"]].forEach(function (pair) {
          var label = document.createElement("label");
          label.className = "exam-option";
          var input = document.createElement("input");
          input.type = "radio";
          input.name = name;
          input.value = pair[0] ? "true" : "false";
          input.checked = saved.value === pair[0];
          label.appendChild(input);
          label.appendChild(document.createTextNode(pair[1]));
          box.appendChild(label);
        });
      } else if (q.type === "fill_blank") {
        for (var b = 0; b < (q.blank_count || q.blanks || 1); b++) {
          var input = document.createElement("input");
          input.className = "exam-blank";
          input.name = name;
          input.maxLength = 200;
          input.setAttribute("aria-label", "第 " + (b + 1) + " 空");
          input.placeholder = "第 " + (b + 1) + " 空";
          input.value = (saved.blanks || [])[b] || "";
          box.appendChild(input);
        }
      } else {
        var area = document.createElement("textarea");
        area.name = name;
        area.maxLength = 2000;
        area.setAttribute("aria-label", "作答");
        area.value = saved.text || "";
        box.appendChild(area);
      }
      box.addEventListener("change", function () { collect(item, box, q); });
      box.addEventListener("input", function () { collect(item, box, q, true); });
      paper.appendChild(box);
    });
    show(paper, true);
    paginate();
  }

  function collect(item, box, q, typing) {
    var inputs = Array.prototype.slice.call(box.querySelectorAll("input, textarea"));
    var answer;
    if (q.type === "single") answer = { choice: (inputs.filter(function (i) { return i.checked; })[0] || {}).value || null };
    else if (q.type === "multiple") answer = { choices: inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.value; }) };
    else if (q.type === "true_false") {
      var picked = inputs.filter(function (i) { return i.checked; })[0];
      answer = { value: picked ? picked.value === "true" : null };
    } else if (q.type === "fill_blank") answer = { blanks: inputs.map(function (i) { return i.value; }) };
    else answer = { text: inputs[0].value };
    state.pending[String(item.position)] = answer;
    persist();
    saveStatus("未保存…");
    clearTimeout(state.debounce);
    state.debounce = setTimeout(flush, typing ? 800 : 0);
  }

  function flush() {
    if (state.saving || state.done) return;
    var keys = Object.keys(state.pending);
    if (!keys.length) { saveStatus(state.attempt && state.attempt.status === "in_progress" ? "已自动保存" : ""); return; }
    state.saving = true;
    saveStatus("保存中…");
    var position = keys[0], answer = state.pending[position];
    LmsApi.put(api + "/attempts/" + state.attempt.id + "/answers/" + position, { answer: answer }, { headers: headers() })
      .then(function () {
        if (state.pending[position] === answer) delete state.pending[position];
        persist();
        state.saving = false;
        flush();
      }, function (e) {
        state.saving = false;
        if (e.code === "time_is_up" || e.code === "attempt_finished") return refresh(e.message);
        if (e.code === "attempt_on_other_device") { stop(); return error(e.message); }
        if (e.retryable) {
          saveStatus("网络中断，答案已保存在本机，恢复后自动上传");
          clearTimeout(state.retry);
          state.retry = setTimeout(flush, 3000);
          return;
        }
        delete state.pending[position];
        persist();
        error(e.message);
        flush();
      });
  }

  function tick() {
    var left = Math.max(0, Math.ceil((state.deadline - Date.now()) / 1000));
    var timer = $("timer");
    timer.textContent = "剩余 " + Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2);
    timer.classList.toggle("is-low", left <= 60);
    if (left <= 0 && !state.done) refresh("时间到，系统已自动交卷。");
  }

  function stop() {
    state.done = true;
    clearInterval(state.timer);
    clearTimeout(state.retry);
  }

  function refresh(message) {
    stop();
    LmsApi.get(api + "/attempts/" + state.attempt.id).then(function (data) {
      if (data.status === "in_progress") {
        // This clock ran a little ahead of the server's: ask again in a moment
        state.done = false;
        state.retry = setTimeout(function () { refresh(message); }, 1000);
        return;
      }
      finished(data, message);
    }, function (e) {
      // Offline at the deadline: the server has submitted anyway; show it when the connection returns
      error(e.message);
      state.done = false;
      state.retry = setTimeout(function () { refresh(message); }, 3000);
    });
  }

  function submit() {
    if (!window.confirm("确定交卷吗？交卷后不能再修改答案。")) return;
    clearTimeout(state.debounce);
    var go = function () {
      if (Object.keys(state.pending).length) { flush(); return setTimeout(go, 500); }
      LmsApi.post(api + "/attempts/" + state.attempt.id + "/submit", {}, { headers: headers() }).then(function (data) {
        stop();
        finished(data);
      }, function (e) { error(e.message); });
    };
    go();
  }

  function finished(data, message) {
    stop();
    try { localStorage.removeItem(backupKey()); } catch (e) { /* ignore */ }
    show($("paper"), false);
    show($("nav"), false);
    show(button("submit"), false);
    show($("bar"), false);
    var box = $("result");
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "exam-result";
    p.setAttribute("role", "status");
    var text = message ? message + " " : "";
    if (data.awaiting_marking) text += "已交卷，简答题待老师评阅后公布成绩。";
    else if (data.score === null || data.score === undefined) text += "已交卷，成绩将在考试结束后公布。";
    else text += "得分 " + data.score + " / " + data.max_score + "，" + (data.passed ? "通过" : "未通过") + "。";
    p.textContent = text;
    box.appendChild(p);
    (data.items || []).forEach(function (item, index) {
      var q = item.question;
      if (!("correct" in q) && !("blanks" in q) && !("reference_answer" in q)) return;
      var div = document.createElement("div");
      div.className = "exam-review";
      var right = q.type === "true_false" ? (q.correct ? "对" : "错")
        : q.type === "fill_blank" ? (q.blanks || []).map(function (b) { return b[0]; }).join("；")
        : q.type === "short_answer" ? (q.reference_answer || "") : (q.correct || []).join("");
      div.textContent = (index + 1) + ". 正确答案：" + right + (item.score !== undefined && item.score !== null ? "　得分 " + item.score : "") + (q.explanation ? "　解析：" + q.explanation : "");
      box.appendChild(div);
    });
    show(box, true);
  }

  function paginate() {
    var exam = state.attempt.exam, boxes = $("paper").querySelectorAll(".exam-question");
    if (!exam.one_per_page) { show($("nav"), false); return; }
    Array.prototype.forEach.call(boxes, function (b, i) { b.hidden = i !== state.page; });
    $("page").textContent = (state.page + 1) + " / " + boxes.length;
    button("prev").disabled = state.page === 0;
    button("next").disabled = state.page >= boxes.length - 1;
    show($("nav"), true);
  }

  button("start").addEventListener("click", start);
  button("submit").addEventListener("click", submit);
  button("prev").addEventListener("click", function () { state.page = Math.max(0, state.page - 1); paginate(); });
  button("next").addEventListener("click", function () { state.page += 1; paginate(); });
  window.addEventListener("online", flush);
  window.LmsExam = { state: function () { return state; }, flush: flush };
})();
