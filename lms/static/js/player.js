/* HLS video player with honest learning-time reporting: binds every [data-player] rendered by
 * media/_player.html. Needs js/api.js (window.LmsApi) and, for browsers without native HLS,
 * dist/hls.min.js (window.Hls), both loaded before this file.
 *
 * Engine: native HLS where Safari's is good (canPlayType + ManagedMediaSource, or no MSE at all:
 * iOS before 17.1); otherwise hls.js (enableWorker: false, since the CSP has no worker-src). Chrome
 * answers "maybe" to canPlayType(HLS) but its native HLS is not dependable, so canPlayType alone
 * must not pick native (hls.js README, "Alternative setup", 2026).
 *
 * With data-playback-url the server judges learning time: the first play POSTs it for a session,
 * then heartbeats POST /api/v1/playback/<session>/heartbeat with the media ranges actually played
 * (from video.played, kept as a union across source reloads) that the server has not accepted yet.
 * One heartbeat in flight at a time; a failed one keeps its ranges for the next seq.
 *
 * Events on the player root (bubbling CustomEvent): lms:lesson-progress (detail = heartbeat
 * response), lms:lesson-completed (detail = response.lesson), lms:playback-halted (detail =
 * {code, message}). window.LmsPlayer.instances lists the players; each has state() for tests.
 */
(function () {
  "use strict";

  const Api = window.LmsApi;
  const HLS_TYPE = "application/vnd.apple.mpegurl";
  const MIN_RANGE_S = 0.25; // shorter unreported slivers wait for the next report
  const MAX_RELOADS = 4; // source reloads in a row without progress before giving up
  const LOG_SIZE = 100;

  // ---------------------------------------------------------------- time ranges [[start, end], ...]
  function normalize(ranges) {
    const sorted = ranges.filter((r) => r[1] > r[0]).map((r) => [r[0], r[1]]).sort((a, b) => a[0] - b[0]);
    const out = [];
    sorted.forEach((r) => {
      const last = out[out.length - 1];
      if (last && r[0] <= last[1] + 1e-3) last[1] = Math.max(last[1], r[1]);
      else out.push(r);
    });
    return out;
  }

  function union(a, b) {
    return normalize(a.concat(b));
  }

  /** a minus b */
  function subtract(a, b) {
    const out = [];
    normalize(a).forEach((range) => {
      let pieces = [range];
      b.forEach((cut) => {
        const next = [];
        pieces.forEach((p) => {
          if (cut[1] <= p[0] || cut[0] >= p[1]) {
            next.push(p);
            return;
          }
          if (cut[0] > p[0]) next.push([p[0], cut[0]]);
          if (cut[1] < p[1]) next.push([cut[1], p[1]]);
        });
        pieces = next;
      });
      pieces.forEach((p) => out.push(p));
    });
    return out;
  }

  function total(ranges) {
    return ranges.reduce((sum, r) => sum + (r[1] - r[0]), 0);
  }

  function snapshot(timeRanges) {
    const out = [];
    for (let i = 0; i < timeRanges.length; i++) out.push([timeRanges.start(i), timeRanges.end(i)]);
    return out;
  }

  function round2(x) {
    return Math.round(x * 100) / 100;
  }

  // ---------------------------------------------------------------- Chinese formatting
  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
  }

  function spoken(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + " 秒";
    if (s < 3600) return Math.floor(s / 60) + " 分 " + (s % 60) + " 秒";
    return Math.floor(s / 3600) + " 小时 " + Math.floor((s % 3600) / 60) + " 分";
  }

  function levelLabel(level) {
    const w = level.width || 0;
    const h = level.height || 0;
    if (w && h) return Math.min(w, h) + "p";
    if (h) return h + "p";
    return Math.round((level.bitrate || 0) / 1000) + " kbps";
  }

  // ---------------------------------------------------------------- engine choice
  function chooseEngine(video) {
    const Hls = window.Hls;
    const hlsJs = !!(Hls && Hls.isSupported && Hls.isSupported());
    const native = !!video.canPlayType(HLS_TYPE);
    if (native && ("ManagedMediaSource" in window || !hlsJs)) return "native";
    if (hlsJs) return "hls";
    return native ? "native" : null;
  }

  // ---------------------------------------------------------------- one player
  class Player {
    constructor(root) {
      this.root = root;
      const d = root.dataset;
      this.src = d.src || "";
      this.playbackUrl = d.playbackUrl || "";
      this.api = (d.api || "/api/v1").replace(/\/$/, "");
      this.resumeS = Number(d.resumeS) || 0;
      this.durationS = Number(d.durationS) || 0;
      this.el = {};
      root.querySelectorAll("[data-role]").forEach((node) => {
        if (!this.el[node.dataset.role]) this.el[node.dataset.role] = node;
      });
      this.video = this.el.video;
      const dialog = this.el.challenge;
      if (dialog) {
        const uid = root.id || "lms-player-" + (instances.length + 1);
        this.el["challenge-prompt"].id = uid + "-challenge-prompt";
        this.el["challenge-timer"].id = uid + "-challenge-timer";
        dialog.setAttribute("aria-labelledby", uid + "-challenge-prompt");
        dialog.setAttribute("aria-describedby", uid + "-challenge-timer");
      }
      this.buttons = {};
      root.querySelectorAll("[data-action]").forEach((node) => (this.buttons[node.dataset.action] = node));

      this.engine = chooseEngine(this.video);
      this.hls = null;
      this.source = null;
      this.pendingSeek = null;
      this.internalSeek = false;
      this.autoplayAfterLoad = false;
      this.reloads = 0;
      this.mediaRecoveries = 0;
      this.manualLevel = -1;

      this.archive = []; // everything played, across source reloads
      this.reported = []; // what the server accepted (or what a dead session can no longer take)
      this.session = null;
      this.starting = false;
      this.seq = 0;
      this.inFlight = null;
      this.queued = null;
      this.timer = null;
      this.retryTimer = null;
      this.failures = 0;
      this.halted = null;
      this.lastRequest = null;
      this.lastResponse = null;
      this.log = [];
      this.challenge = null;
      this.countdown = null;
      this.suppressPause = false;
      this.completed = false;

      this.bindVideo();
      this.bindControls();

      if (!this.engine) {
        this.alert("您的浏览器无法播放此视频，请使用新版的微信、Safari、Chrome 或 Edge 浏览器。");
        this.show(this.buttons.start, false);
        return;
      }
      if (this.playbackUrl) {
        this.video.controls = false; // the start button begins the timed session
        this.show(this.buttons.start, true);
      } else if (this.src) {
        this.load(this.src, { at: this.resumeS, notice: true });
      } else {
        this.alert("没有可播放的视频。");
      }
    }

    // ------------------------------------------------------------ small UI helpers
    show(node, visible) {
      if (node) node.hidden = !visible;
    }

    notice(text) {
      const node = this.el.notice;
      if (!node) return;
      node.textContent = text || "";
      this.show(node, !!text);
    }

    alert(text, options) {
      options = options || {};
      this.el["alert-text"].textContent = text || "";
      this.show(this.el.alert, !!text);
      this.show(this.buttons.restart, !!options.restart);
      this.show(this.buttons.reload, !!options.reload);
    }

    emit(name, detail) {
      this.root.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
    }

    // ------------------------------------------------------------ wiring
    bindVideo() {
      const v = this.video;
      v.addEventListener("loadedmetadata", () => this.onMetadata());
      v.addEventListener("timeupdate", () => {
        this.archivePlayed();
        if (!v.paused && v.currentTime > 0) this.reloads = 0;
      });
      v.addEventListener("play", () => this.onPlay());
      v.addEventListener("playing", () => this.startTimer());
      v.addEventListener("pause", () => {
        this.stopTimer();
        if (this.suppressPause) {
          this.suppressPause = false;
          return;
        }
        this.report("pause");
      });
      v.addEventListener("ended", () => {
        this.stopTimer();
        this.report("ended");
      });
      v.addEventListener("seeking", () => {
        if (this.internalSeek) {
          this.internalSeek = false;
          return;
        }
        this.report("seek");
      });
      v.addEventListener("error", () => this.onNativeError());
    }

    bindControls() {
      if (this.buttons.start) this.buttons.start.addEventListener("click", () => this.startSession(true));
      if (this.buttons.restart) this.buttons.restart.addEventListener("click", () => this.startSession(false));
      if (this.buttons.reload) {
        this.buttons.reload.addEventListener("click", () => {
          this.alert("");
          this.reloads = 0;
          this.reload(true);
        });
      }
      const select = this.el.quality;
      if (select) {
        select.addEventListener("change", () => {
          this.manualLevel = Number(select.value);
          if (this.hls) this.hls.currentLevel = this.manualLevel;
        });
      }
      const dialog = this.el.challenge;
      if (dialog) {
        dialog.addEventListener("cancel", (event) => event.preventDefault()); // Esc: an answer is needed
      }
    }

    // ------------------------------------------------------------ loading a source
    load(url, options) {
      options = options || {};
      this.source = url;
      this.pendingSeek = { at: Number(options.at) || 0, notice: !!options.notice, exact: !!options.exact };
      this.autoplayAfterLoad = !!options.autoplay;
      this.archivePlayed();
      if (this.engine === "native") {
        this.video.src = url;
        this.video.load();
      } else {
        this.attachHls(url);
      }
    }

    attachHls(url) {
      const Hls = window.Hls;
      if (this.hls) this.hls.destroy();
      const hls = new Hls({
        enableWorker: false, // the CSP has no worker-src, and blob: workers are refused
        capLevelToPlayerSize: true,
        backBufferLength: 30,
        startLevel: this.manualLevel >= 0 ? this.manualLevel : -1
      });
      this.hls = hls;
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        if (hls !== this.hls) return;
        this.renderLevels();
        if (this.manualLevel >= 0) hls.currentLevel = this.manualLevel;
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, () => {
        if (hls === this.hls) this.renderAutoLabel();
      });
      hls.on(Hls.Events.FRAG_LOADED, () => {
        if (hls === this.hls) this.mediaRecoveries = 0;
      });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (hls === this.hls) this.onHlsError(data);
      });
      hls.loadSource(url);
      hls.attachMedia(this.video);
    }

    renderLevels() {
      const select = this.el.quality;
      if (!select || !this.hls) return;
      const levels = this.hls.levels || [];
      select.textContent = "";
      const auto = document.createElement("option");
      auto.value = "-1";
      auto.textContent = "自动";
      select.append(auto);
      const seen = {};
      levels.forEach((level, index) => {
        let label = levelLabel(level);
        if (seen[label]) label += "（" + Math.round((level.bitrate || 0) / 1000) + " kbps）";
        seen[label] = true;
        const option = document.createElement("option");
        option.value = String(index);
        option.textContent = label;
        select.append(option);
      });
      select.value = String(this.manualLevel < levels.length ? this.manualLevel : -1);
      this.show(this.el["quality-wrap"], levels.length > 1);
      this.renderAutoLabel();
    }

    renderAutoLabel() {
      const select = this.el.quality;
      if (!select || !this.hls || !select.options.length) return;
      const level = this.hls.levels && this.hls.levels[this.hls.currentLevel];
      const auto = this.hls.autoLevelEnabled && level ? "自动（" + levelLabel(level) + "）" : "自动";
      select.options[0].textContent = auto;
    }

    onMetadata() {
      // A phone-shot portrait lecture gets a portrait frame (a class: the CSP forbids inline styles)
      const frame = this.video.parentElement;
      if (frame) frame.classList.toggle("is-portrait", this.video.videoHeight > this.video.videoWidth);
      const seek = this.pendingSeek;
      this.pendingSeek = null;
      if (seek && seek.at > 0) {
        const v = this.video;
        const duration = isFinite(v.duration) && v.duration > 0 ? v.duration : this.durationS;
        if (seek.exact) {
          this.seekTo(Math.min(seek.at, Math.max(0, duration - 0.5)));
        } else if (seek.at > 5 && (!duration || seek.at < duration - 5)) {
          this.seekTo(seek.at);
          if (seek.notice) this.notice("已从上次位置 " + clock(seek.at) + " 继续");
        }
      }
      if (this.autoplayAfterLoad) {
        this.autoplayAfterLoad = false;
        this.play();
      }
    }

    seekTo(t) {
      if (Math.abs(this.video.currentTime - t) < 0.01) return;
      this.internalSeek = true;
      this.video.currentTime = t;
    }

    play() {
      const promise = this.video.play();
      if (promise && promise.catch) {
        promise.catch((error) => {
          if (error && error.name === "NotAllowedError") this.notice("请点击播放按钮开始观看。");
        });
      }
    }

    /** Re-fetches the playlist (fresh segment URLs) and carries on from where playback was. */
    reload(resume) {
      if (!this.source) return;
      this.archivePlayed();
      const at = this.video.currentTime;
      const playing = resume || !this.video.paused;
      this.load(this.source, { at: at, exact: true, autoplay: playing });
    }

    scheduleReload(reason) {
      this.reloads += 1;
      if (this.reloads > MAX_RELOADS) {
        this.alert("视频加载失败：" + reason + "。请检查网络后重试。", { reload: true });
        return;
      }
      const playing = !this.video.paused;
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => this.reload(playing), Math.min(8000, 500 * Math.pow(2, this.reloads - 1)));
    }

    onHlsError(data) {
      const Hls = window.Hls;
      const code = data.response && data.response.code;
      const fragment = data.details === Hls.ErrorDetails.FRAG_LOAD_ERROR || data.details === Hls.ErrorDetails.KEY_LOAD_ERROR;
      if (fragment && code === 403) {
        // Presigned segment URLs expired: a fresh playlist has fresh URLs.
        this.scheduleReload("播放地址已过期");
        return;
      }
      if (!data.fatal) return;
      const manifest = data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR;
      if (manifest && this.playbackUrl && (code === 401 || code === 403 || code === 404 || code === 410)) {
        this.halt("playback_expired", "播放授权已失效，请重新开始计时。");
        return;
      }
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        this.scheduleReload("网络连接中断");
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        this.archivePlayed();
        this.mediaRecoveries += 1;
        if (this.mediaRecoveries === 1) {
          this.hls.recoverMediaError();
        } else if (this.mediaRecoveries === 2) {
          this.hls.swapAudioCodec();
          this.hls.recoverMediaError();
        } else {
          this.alert("视频解码失败，请刷新页面重试。", { reload: true });
        }
      } else {
        this.hls.destroy();
        this.hls = null;
        this.alert("视频无法播放，请稍后再试。", { reload: true });
      }
    }

    onNativeError() {
      if (this.engine !== "native" || !this.source) return;
      const error = this.video.error;
      if (!error) return;
      if (error.code === 2 || error.code === 4) this.scheduleReload("网络连接中断");
      else if (error.code === 3) this.alert("视频解码失败，请刷新页面重试。", { reload: true });
    }

    // ------------------------------------------------------------ timed session
    onPlay() {
      if (this.challenge) {
        this.suppressPause = true;
        this.video.pause();
        this.openDialog();
        return;
      }
      if (this.playbackUrl && !this.session && !this.starting && !this.halted) {
        this.suppressPause = true;
        this.video.pause();
        this.startSession(true);
      }
    }

    async startSession(first) {
      if (this.starting) return;
      this.starting = true;
      if (this.buttons.start) this.buttons.start.disabled = true;
      if (this.buttons.restart) this.buttons.restart.disabled = true;
      this.notice("正在准备…");
      let data;
      try {
        data = await Api.post(this.playbackUrl, {});
      } catch (error) {
        this.starting = false;
        if (this.buttons.start) this.buttons.start.disabled = false;
        if (this.buttons.restart) this.buttons.restart.disabled = false;
        this.notice("");
        this.alert(error.message, { restart: !first });
        return;
      }
      this.starting = false;
      if (this.buttons.restart) this.buttons.restart.disabled = false;
      this.session = {
        id: String(data.session_id),
        interval: Math.max(1, Number(data.heartbeat_interval_s) || 15)
      };
      this.seq = 0;
      this.failures = 0;
      this.halted = null;
      this.queued = null;
      if (Number(data.duration_s) > 0) this.durationS = Number(data.duration_s);
      this.notice("");
      this.alert("");
      this.show(this.buttons.start, false);
      this.video.controls = true;
      const url = data.playlist_url || this.src;
      if (first || !this.source) {
        this.load(url, { at: Number(data.resume_position_s) || 0, notice: true, autoplay: true });
      } else if (url !== this.source) {
        this.archivePlayed();
        this.load(url, { at: this.video.currentTime, exact: true, autoplay: true });
      } else {
        this.play();
      }
      this.emit("lms:playback-started", { session_id: this.session.id });
    }

    heartbeatUrl() {
      return this.api + "/playback/" + encodeURIComponent(this.session.id) + "/heartbeat";
    }

    archivePlayed() {
      if (this.video.played && this.video.played.length) this.archive = union(this.archive, snapshot(this.video.played));
    }

    pendingRanges(minLength) {
      this.archivePlayed();
      return subtract(this.archive, this.reported).filter((r) => r[1] - r[0] >= minLength);
    }

    startTimer() {
      if (!this.session || this.halted || this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.video.paused) return;
        this.report("interval");
        this.startTimer();
      }, this.session.interval * 1000);
    }

    stopTimer() {
      clearTimeout(this.timer);
      this.timer = null;
    }

    /**
     * Sends a heartbeat now, or after the one in flight. Options: answer ({id, answer}),
     * keepalive (for hidden/pagehide). On pagehide a heartbeat goes out even with one in flight:
     * it carries a superset of that one's ranges, under a higher seq.
     */
    report(reason, options) {
      options = options || {};
      if (!this.session || this.halted) return;
      if (this.inFlight && reason !== "pagehide") {
        const q = this.queued || {};
        this.queued = {
          reason: reason,
          answer: options.answer || q.answer,
          keepalive: !!(options.keepalive || q.keepalive)
        };
        return;
      }
      clearTimeout(this.retryTimer);
      const final = reason === "pagehide" || reason === "hidden" || reason === "ended" || reason === "pause";
      const ranges = this.pendingRanges(final ? 0.05 : MIN_RANGE_S);
      const body = {
        seq: ++this.seq,
        position_s: round2(this.video.currentTime || 0),
        ranges: ranges.map((r) => [round2(r[0]), round2(r[1])]),
        rate: this.video.playbackRate,
        visible: document.visibilityState === "visible"
      };
      if (options.answer) body.challenge_answer = options.answer;
      const session = this.session;
      const request = { seq: body.seq, reason: reason, ranges: ranges, body: body };
      this.inFlight = request;
      this.lastRequest = request;
      this.pushLog({ reason: reason, body: body });
      Api.post(this.heartbeatUrl(), body, { keepalive: !!options.keepalive })
        .then((data) => {
          if (session !== this.session) return;
          this.onAccepted(request, data || {});
        })
        .catch((error) => {
          if (session !== this.session) return;
          this.onReportError(request, error);
        })
        .finally(() => {
          if (this.inFlight === request) this.inFlight = null;
          if (this.queued && !this.inFlight && session === this.session) {
            const next = this.queued;
            this.queued = null;
            this.report(next.reason, next);
          }
        });
    }

    pushLog(entry) {
      this.log.push(entry);
      if (this.log.length > LOG_SIZE) this.log.shift();
    }

    onAccepted(request, data) {
      // The server says what it has credited; anything played but not credited yet (clipped while the
      // server was slow) stays pending and goes again with the next report.
      const covered = data.lesson && Array.isArray(data.lesson.covered) ? data.lesson.covered : null;
      this.reported = covered ? union([], covered) : union(this.reported, request.ranges);
      this.failures = 0;
      this.lastResponse = data;
      this.pushLog({ seq: request.seq, status: 200, response: data });
      this.renderLesson(data.lesson);
      this.emit("lms:lesson-progress", data);
      if (data.challenge) this.openChallenge(data.challenge);
    }

    onReportError(request, error) {
      this.pushLog({ seq: request.seq, status: error.status || 0, error: error.code });
      if (error.status === 409 || error.status === 404 || error.status === 410) {
        this.halt(error.code, error.message);
        return;
      }
      if (error.retryable) {
        // Keep playing; the unreported ranges go with the next heartbeat (next seq).
        this.failures += 1;
        if (error.network) this.notice("网络连接中断，学习时长将在恢复后补报。");
        if (this.video.paused) {
          const delay = Math.min(60000, 2000 * Math.pow(2, this.failures));
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.report("retry"), delay);
        }
        return;
      }
      this.halt(error.code, error.message, error.status !== 401 && error.status !== 403);
    }

    /** The session is over (superseded, expired, challenge failed ...): stop and wait for the learner. */
    halt(code, message, restartable) {
      this.halted = { code: code, message: message };
      this.stopTimer();
      clearTimeout(this.retryTimer);
      this.queued = null;
      this.closeChallenge();
      this.archivePlayed();
      this.reported = union(this.reported, this.archive); // not for a later session to claim
      if (!this.video.paused) {
        this.suppressPause = true;
        this.video.pause();
      }
      this.session = null;
      this.notice("");
      this.alert(message || "学习计时已停止。", { restart: restartable !== false });
      this.emit("lms:playback-halted", { code: code, message: message });
    }

    renderLesson(lesson) {
      if (!lesson || !this.el.lesson) return;
      const percent = Math.max(0, Math.min(100, Math.floor(Number(lesson.percent) || 0)));
      this.el["lesson-text"].textContent = "本课已学 " + percent + "%（已计入 " + spoken(lesson.covered_s || 0) + "）";
      if (this.el["lesson-progress"]) this.el["lesson-progress"].value = percent;
      this.show(this.el.lesson, true);
      this.show(this.el.completed, !!lesson.completed);
      if (lesson.completed && !this.completed) {
        this.completed = true;
        this.emit("lms:lesson-completed", lesson);
      }
    }

    // ------------------------------------------------------------ attention check
    openChallenge(challenge) {
      this.closeChallenge();
      const expires = Math.max(5, Number(challenge.expires_in_s) || 60);
      this.challenge = {
        id: String(challenge.id),
        prompt: challenge.prompt,
        options: challenge.options || [],
        deadline: Date.now() + expires * 1000
      };
      if (document.fullscreenElement && document.exitFullscreen) document.exitFullscreen().catch(() => null);
      if (this.video.webkitDisplayingFullscreen && this.video.webkitExitFullscreen) this.video.webkitExitFullscreen();
      if (!this.video.paused) {
        this.suppressPause = true;
        this.video.pause();
      }
      this.el["challenge-prompt"].textContent = challenge.prompt || "";
      const box = this.el["challenge-options"];
      box.textContent = "";
      this.challenge.options.forEach((option) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "player-option";
        button.dataset.action = "answer";
        button.textContent = option;
        button.addEventListener("click", () => this.answer(option));
        box.append(button);
      });
      this.tickCountdown();
      this.countdown = setInterval(() => this.tickCountdown(), 1000);
      this.openDialog();
    }

    openDialog() {
      const dialog = this.el.challenge;
      if (!dialog.open) {
        if (dialog.showModal) dialog.showModal();
        else dialog.setAttribute("open", "");
      }
      const first = dialog.querySelector("button");
      if (first) first.focus();
    }

    tickCountdown() {
      if (!this.challenge) return;
      const left = Math.ceil((this.challenge.deadline - Date.now()) / 1000);
      if (left <= 0) {
        this.closeChallenge();
        this.notice("答题已超时。");
        this.report("challenge-timeout");
        return;
      }
      this.el["challenge-timer"].textContent = "请在 " + left + " 秒内作答";
    }

    closeChallenge() {
      clearInterval(this.countdown);
      this.countdown = null;
      this.challenge = null;
      const dialog = this.el.challenge;
      if (dialog && dialog.open) {
        if (dialog.close) dialog.close();
        else dialog.removeAttribute("open");
      }
    }

    answer(option) {
      const challenge = this.challenge;
      if (!challenge) return;
      this.closeChallenge();
      this.report("challenge", { answer: { id: challenge.id, answer: option } });
      this.play();
    }

    // ------------------------------------------------------------ for tests and debugging
    state() {
      return {
        engine: this.engine,
        source: this.source,
        sessionId: this.session && this.session.id,
        seq: this.seq,
        inFlight: !!this.inFlight,
        halted: this.halted,
        pendingRanges: this.pendingRanges(0),
        reportedRanges: this.reported.slice(),
        playedRanges: this.archive.slice(),
        playedSeconds: total(this.archive),
        lastRequest: this.lastRequest && this.lastRequest.body,
        lastResponse: this.lastResponse,
        challenge: this.challenge && { id: this.challenge.id, prompt: this.challenge.prompt },
        levels: this.hls ? this.hls.levels.map(levelLabel) : [],
        log: this.log.slice()
      };
    }
  }

  const instances = [];
  function bind(root) {
    if (root.lmsPlayer) return root.lmsPlayer;
    const player = new Player(root);
    root.lmsPlayer = player;
    instances.push(player);
    return player;
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") instances.forEach((p) => p.report("hidden", { keepalive: true }));
    // Back in view: say so at once, or the server keeps treating the page as hidden until the next report
    else instances.forEach((p) => p.video && !p.video.paused && p.report("visible"));
  });
  window.addEventListener("pagehide", () => instances.forEach((p) => p.report("pagehide", { keepalive: true })));

  window.LmsPlayer = {
    instances: instances,
    bind: bind,
    ranges: { union: union, subtract: subtract, total: total },
    clock: clock
  };

  function bindAll() {
    document.querySelectorAll("[data-player]").forEach(bind);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bindAll);
  else bindAll();
})();
