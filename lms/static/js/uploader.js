/* Resumable multipart uploads: binds every [data-uploader] rendered by media/_uploader.html.
 *
 * Flow: POST /api/v1/uploads -> the server chooses part_size/part_count -> up to 3 parts at a time
 * (POST .../part-urls, then PUT each part to its URL) -> POST .../complete -> poll the asset every
 * 2 s until it is ready or failed. A dropped connection retries only the parts still missing;
 * the file's fingerprint (name, size, lastModified) -> upload id is kept in localStorage, so
 * picking the same file after a reload resumes the upload. Needs js/api.js (window.LmsApi).
 *
 * Events on the widget root (bubbling, detail = asset A): lms:asset-uploaded, lms:asset-ready,
 * lms:asset-failed. window.LmsUploader.instances lists the bound widgets.
 */
(function () {
  "use strict";

  const Api = window.LmsApi;
  const STORE_KEY = "lms.uploads.v1";
  const CONCURRENCY = 3;
  const URL_BATCH = 50;
  const MAX_RETRIES = 6; // per part, for network errors, 429 and 5xx (offline time does not count)
  const MAX_URL_REFRESH = 3; // per part, for 403 from an expired presigned URL
  const URL_MAX_AGE_MS = 50 * 60 * 1000; // presigned URLs live about an hour
  const STALL_MS = 60 * 1000; // a PUT without any progress for this long counts as dropped
  const POLL_MS = 2000;
  const MB = 1024 * 1024;

  // ---------------------------------------------------------------- formatting (Chinese UI)
  function formatBytes(n) {
    if (n >= 1024 * MB) return (n / 1024 / MB).toFixed(1) + " GB";
    if (n >= MB) return (n / MB).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " 字节";
  }

  function formatSpeed(bytesPerSecond) {
    if (bytesPerSecond >= 0.1 * MB) return (bytesPerSecond / MB).toFixed(1) + " MB/秒";
    return Math.max(1, Math.round(bytesPerSecond / 1024)) + " KB/秒";
  }

  function formatDuration(seconds) {
    const s = Math.max(1, Math.ceil(seconds));
    if (s < 60) return s + " 秒";
    if (s < 3600) return Math.floor(s / 60) + " 分 " + (s % 60) + " 秒";
    return Math.floor(s / 3600) + " 小时 " + Math.floor((s % 3600) / 60) + " 分";
  }

  // ---------------------------------------------------------------- helpers
  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function backoff(attempt) {
    const base = Math.min(30000, 1000 * Math.pow(2, attempt - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  function waitOnline() {
    if (navigator.onLine !== false) return Promise.resolve();
    return new Promise((resolve) => window.addEventListener("online", () => resolve(), { once: true }));
  }

  function fingerprint(file) {
    return [file.name, file.size, file.lastModified].join("|");
  }

  const store = {
    read() {
      try {
        return JSON.parse(window.localStorage.getItem(STORE_KEY) || "{}") || {};
      } catch (e) {
        return {};
      }
    },
    write(map) {
      try {
        window.localStorage.setItem(STORE_KEY, JSON.stringify(map));
      } catch (e) {
        /* private mode or full: resuming after a reload then needs the unfinished-uploads list */
      }
    },
    get(fp) {
      return this.read()[fp] || null;
    },
    set(fp, entry) {
      const map = this.read();
      const old = Date.now() - 30 * 24 * 3600 * 1000;
      Object.keys(map).forEach((key) => {
        if (!map[key] || !(map[key].at > old)) delete map[key];
      });
      map[fp] = entry;
      this.write(map);
    },
    forgetUpload(id) {
      const map = this.read();
      Object.keys(map).forEach((fp) => {
        if (map[fp] && map[fp].id === id) delete map[fp];
      });
      this.write(map);
    }
  };

  function stripQuotes(etag) {
    return (etag || "").trim().replace(/^W\//, "").replace(/^"+|"+$/g, "");
  }

  /** Expected byte size of part n (1-based) of an upload. */
  function partSize(upload, n) {
    if (n < upload.part_count) return upload.part_size;
    return upload.size - upload.part_size * (upload.part_count - 1);
  }

  class Stopped extends Error {}

  // ---------------------------------------------------------------- one upload in progress
  class Job {
    constructor(widget, file, upload, fp) {
      this.widget = widget;
      this.file = file;
      this.upload = upload;
      this.fp = fp;
      this.etags = new Map(); // part number -> etag
      this.urls = new Map(); // part number -> {url, same_origin, at}
      this.inflight = new Map(); // part number -> bytes sent so far
      this.xhrs = new Set();
      this.queue = [];
      this.doneBytes = 0;
      this.stopped = false;
      this.urlFetch = null;
      this.speed = 0;
      this.lastSample = null;
      this.retrying = false;
    }

    sentBytes() {
      let n = this.doneBytes;
      this.inflight.forEach((b) => (n += b));
      return Math.min(n, this.upload.size);
    }

    /** Adopts the parts the store already has (right size only) and queues the rest. */
    sync(upload) {
      this.upload = upload;
      const have = new Map();
      (upload.parts || []).forEach((p) => {
        if (p.size === partSize(upload, p.number) && p.etag) have.set(p.number, stripQuotes(p.etag));
      });
      this.etags.forEach((etag, n) => have.set(n, etag));
      this.etags = have;
      this.doneBytes = 0;
      this.etags.forEach((_, n) => (this.doneBytes += partSize(upload, n)));
      this.queue = [];
      for (let n = 1; n <= upload.part_count; n++) if (!this.etags.has(n)) this.queue.push(n);
    }

    stop() {
      this.stopped = true;
      this.xhrs.forEach((xhr) => xhr.abort());
      this.xhrs.clear();
      this.inflight.clear();
    }

    async run() {
      const workers = [];
      for (let i = 0; i < Math.min(CONCURRENCY, this.queue.length); i++) workers.push(this.worker());
      try {
        await Promise.all(workers);
      } catch (error) {
        this.stop();
        throw error;
      }
    }

    async worker() {
      while (!this.stopped && this.queue.length) {
        await this.uploadPart(this.queue.shift());
      }
    }

    async uploadPart(n) {
      let failures = 0;
      let refreshes = 0;
      for (;;) {
        if (this.stopped) throw new Stopped();
        if (navigator.onLine === false) {
          this.widget.setNote(Api.NETWORK_MESSAGE);
          await waitOnline();
          continue;
        }
        try {
          const target = await this.urlFor(n);
          const etag = await this.put(n, target);
          this.etags.set(n, etag);
          this.doneBytes += partSize(this.upload, n);
          this.widget.setNote("");
          this.widget.renderProgress(this);
          return;
        } catch (error) {
          if (this.stopped || error instanceof Stopped) throw new Stopped();
          if (error.expired && refreshes < MAX_URL_REFRESH) {
            refreshes += 1;
            this.urls.delete(n);
            continue;
          }
          if ((error.retryable || error.expired) && failures < MAX_RETRIES) {
            failures += 1;
            this.widget.setNote(error.network ? Api.NETWORK_MESSAGE : "上传暂时受阻，正在重试…");
            await sleep(backoff(failures));
            continue;
          }
          throw error;
        }
      }
    }

    /** URL for part n; asks for up to 50 missing parts at once. */
    async urlFor(n) {
      for (;;) {
        const cached = this.urls.get(n);
        if (cached && Date.now() - cached.at < URL_MAX_AGE_MS) return cached;
        if (!this.urlFetch) {
          const wanted = [n].concat(this.queue.filter((m) => !this.urls.has(m))).slice(0, URL_BATCH);
          const url = this.widget.api + "/uploads/" + this.upload.id + "/part-urls";
          this.urlFetch = Api.post(url, { parts: wanted })
            .then((data) => {
              const at = Date.now();
              Object.keys((data && data.urls) || {}).forEach((key) => {
                const u = data.urls[key];
                this.urls.set(Number(key), { url: u.url, same_origin: !!u.same_origin, at: at });
              });
            })
            .finally(() => {
              this.urlFetch = null;
            });
          await this.urlFetch;
          if (!this.urls.has(n)) {
            throw Api.ApiError("服务器没有返回第 " + n + " 个分片的上传地址。", { status: 500, code: "no_part_url" });
          }
        } else {
          await this.urlFetch.catch(() => null);
        }
      }
    }

    /** PUTs part n; resolves with its ETag. XHR because fetch cannot report upload progress. */
    put(n, target) {
      const start = (n - 1) * this.upload.part_size;
      const size = partSize(this.upload, n);
      const blob = this.file.slice(start, start + size, "application/octet-stream");
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        let stalled = false;
        let watchdog = null;
        const armWatchdog = () => {
          clearTimeout(watchdog);
          watchdog = setTimeout(() => {
            stalled = true;
            xhr.abort();
          }, STALL_MS);
        };
        const done = () => {
          clearTimeout(watchdog);
          this.xhrs.delete(xhr);
          this.inflight.delete(n);
        };
        xhr.open("PUT", target.url, true);
        if (target.same_origin) {
          // The app itself: session cookie and CSRF header.
          xhr.withCredentials = true;
          xhr.setRequestHeader("X-CSRFToken", Api.csrfToken());
          xhr.setRequestHeader("Accept", "application/json");
        }
        // A presigned object-store URL gets no credentials and no custom header.
        xhr.setRequestHeader("Content-Type", "application/octet-stream");
        xhr.upload.onprogress = (event) => {
          armWatchdog();
          this.inflight.set(n, Math.min(event.loaded, size));
          this.widget.renderProgress(this);
        };
        xhr.onload = () => {
          done();
          const status = xhr.status;
          let body = null;
          if (target.same_origin && xhr.responseText) {
            try {
              body = JSON.parse(xhr.responseText);
            } catch (e) {
              body = null;
            }
          }
          if (status >= 200 && status < 300) {
            const fromBody = body && body.part && body.part.etag;
            const etag = stripQuotes(xhr.getResponseHeader("ETag") || fromBody || "");
            if (!etag) {
              reject(Api.ApiError("存储服务没有返回分片校验值（ETag），无法完成上传。", { status: status, code: "no_etag" }));
              return;
            }
            if (body && body.part && typeof body.part.size === "number" && body.part.size !== size) {
              const e = Api.ApiError("第 " + n + " 个分片大小不符，正在重传…", { status: 500, code: "part_size" });
              reject(e);
              return;
            }
            resolve(etag);
            return;
          }
          if (status === 403 && !target.same_origin) {
            const e = Api.ApiError("上传地址已过期，正在重新获取…", { status: 403, code: "url_expired" });
            e.expired = true;
            reject(e);
            return;
          }
          const message = (body && body.message) || (status >= 500 || status === 429 ? "存储服务暂时不可用，正在重试…" : "分片上传失败（" + status + "）。");
          reject(Api.ApiError(message, { status: status, code: body && body.error, body: body }));
        };
        xhr.onerror = () => {
          done();
          reject(Api.ApiError(Api.NETWORK_MESSAGE, { network: true }));
        };
        xhr.ontimeout = xhr.onerror;
        xhr.onabort = () => {
          done();
          if (stalled && !this.stopped) reject(Api.ApiError(Api.NETWORK_MESSAGE, { network: true }));
          else reject(new Stopped());
        };
        this.xhrs.add(xhr);
        this.inflight.set(n, 0);
        armWatchdog();
        xhr.send(blob);
      });
    }

    sampleSpeed() {
      const now = performance.now();
      const sent = this.sentBytes();
      if (this.lastSample) {
        const dt = (now - this.lastSample.t) / 1000;
        if (dt > 0) {
          const rate = Math.max(0, sent - this.lastSample.sent) / dt;
          this.speed = this.speed ? 0.7 * this.speed + 0.3 * rate : rate;
        }
      }
      this.lastSample = { t: now, sent: sent };
    }
  }

  // ---------------------------------------------------------------- the widget
  class Uploader {
    constructor(root) {
      this.root = root;
      this.api = (root.dataset.api || "/api/v1").replace(/\/$/, "");
      this.purpose = root.dataset.purpose;
      this.maxBytes = Number(root.dataset.maxBytes) || 0;
      this.el = {};
      root.querySelectorAll("[data-role]").forEach((node) => {
        if (!this.el[node.dataset.role]) this.el[node.dataset.role] = node;
      });
      this.cancelButton = root.querySelector("[data-action=cancel]");
      this.retryButton = root.querySelector("[data-action=retry]");
      this.job = null;
      this.unfinished = [];
      this.note = "";
      this.ticker = null;
      this.lastRender = 0;
      this.retry = null;

      this.el.file.addEventListener("change", () => {
        const file = this.el.file.files && this.el.file.files[0];
        this.el.file.value = ""; // picking the same file again (to resume or retry) fires change again
        if (file) this.start(file);
      });
      this.cancelButton.addEventListener("click", () => this.cancel());
      this.retryButton.addEventListener("click", () => {
        const action = this.retry;
        this.retry = null;
        this.autoRetry = null;
        this.retryButton.hidden = true;
        if (action) action();
      });
      this.autoRetry = null;
      window.addEventListener("online", () => {
        const action = this.autoRetry;
        if (!action || this.retry !== action) return;
        this.autoRetry = null;
        this.retry = null;
        this.retryButton.hidden = true;
        action();
      });
      this.loadUnfinished();
    }

    // ------------------------------------------------------------ UI bits
    show(node, visible) {
      if (node) node.hidden = !visible;
    }

    setError(message) {
      this.el.error.textContent = message || "";
      this.show(this.el.error, !!message);
    }

    setStatus(text) {
      this.el.status.textContent = text;
    }

    setNote(text) {
      this.note = text || "";
      if (this.job) this.renderProgress(this.job, true);
    }

    setBusy(busy) {
      this.el.file.disabled = busy;
      this.el.pick.classList.toggle("is-disabled", busy);
      this.root.classList.toggle("is-busy", busy);
    }

    offerRetry(action, label) {
      this.retry = action;
      this.retryButton.textContent = label || "重试";
      this.retryButton.hidden = false;
    }

    dispatch(name, asset) {
      this.root.dispatchEvent(new CustomEvent(name, { detail: asset, bubbles: true }));
    }

    renderProgress(job, force) {
      const now = performance.now();
      if (!force && now - this.lastRender < 200) return;
      this.lastRender = now;
      const size = job.upload.size || 1;
      const sent = job.sentBytes();
      const percent = Math.floor((sent / size) * 100);
      this.el.progress.max = 100;
      this.el.progress.value = percent;
      let text = "已上传 " + percent + "%";
      if (this.note) {
        text += "；" + this.note;
      } else if (job.speed > 0) {
        text += "，" + formatSpeed(job.speed) + "，约剩 " + formatDuration((job.upload.size - sent) / job.speed);
      } else if (sent < size) {
        text += "，正在计算速度…";
      }
      this.setStatus(text);
    }

    // ------------------------------------------------------------ unfinished uploads list
    async loadUnfinished() {
      let items = [];
      try {
        const data = await Api.get(this.api + "/uploads");
        items = (data && data.items) || [];
      } catch (error) {
        return; // not fatal: the list is a convenience
      }
      this.unfinished = items.filter((u) => u.status === "uploading" && (!this.purpose || u.purpose === this.purpose));
      this.renderUnfinished();
    }

    renderUnfinished() {
      const list = this.el.resumables;
      list.textContent = "";
      const current = this.job && this.job.upload.id;
      const items = this.unfinished.filter((u) => u.id !== current);
      items.forEach((u) => {
        const have = (u.parts || []).reduce((sum, p) => sum + (p.size || 0), 0);
        const percent = u.size ? Math.floor((have / u.size) * 100) : 0;
        const li = document.createElement("li");
        li.className = "uploader-resumable";
        li.dataset.uploadId = String(u.id);
        const text = document.createElement("p");
        text.className = "uploader-resumable-text";
        text.textContent = "继续上传 " + u.filename + "（已完成 " + percent + "%）：请重新选择该文件";
        const actions = document.createElement("div");
        actions.className = "actions";
        const pick = document.createElement("button");
        pick.type = "button";
        pick.className = "primary";
        pick.dataset.action = "resume";
        pick.textContent = "选择该文件";
        pick.addEventListener("click", () => this.el.file.click());
        const drop = document.createElement("button");
        drop.type = "button";
        drop.dataset.action = "discard";
        drop.textContent = "放弃";
        drop.addEventListener("click", () => this.discard(u, drop));
        actions.append(pick, drop);
        li.append(text, actions);
        list.append(li);
      });
      this.show(list, items.length > 0);
    }

    async discard(upload, button) {
      button.disabled = true;
      try {
        await Api.del(this.api + "/uploads/" + upload.id);
      } catch (error) {
        if (error.status !== 404) {
          button.disabled = false;
          this.setError(error.message);
          return;
        }
      }
      store.forgetUpload(upload.id);
      this.unfinished = this.unfinished.filter((u) => u.id !== upload.id);
      this.renderUnfinished();
    }

    // ------------------------------------------------------------ one file
    async findResumable(file, fp) {
      const candidates = [];
      const saved = store.get(fp);
      if (saved && saved.id) candidates.push(saved.id);
      this.unfinished.forEach((u) => {
        if (u.filename === file.name && u.size === file.size && candidates.indexOf(u.id) < 0) candidates.push(u.id);
      });
      for (const id of candidates) {
        try {
          const data = await Api.get(this.api + "/uploads/" + id);
          const u = data && data.upload;
          if (u && u.status === "uploading" && u.size === file.size && u.filename === file.name &&
              (!this.purpose || u.purpose === this.purpose)) {
            return u;
          }
        } catch (error) {
          if (error.retryable) throw error;
        }
        store.forgetUpload(id);
      }
      return null;
    }

    async start(file) {
      if (this.job && !this.job.stopped) return;
      this.setError("");
      this.retry = null;
      this.retryButton.hidden = true;
      this.show(this.el["asset-link"], false);
      if (!file.size) {
        this.setError("所选文件是空的，请重新选择。");
        this.el.file.value = "";
        return;
      }
      if (this.maxBytes && file.size > this.maxBytes) {
        this.setError("文件太大：所选文件 " + formatBytes(file.size) + "，最大允许 " + formatBytes(this.maxBytes) + "。");
        this.el.file.value = "";
        return;
      }
      this.setBusy(true);
      this.el.filename.textContent = file.name + "（" + formatBytes(file.size) + "）";
      this.el.progress.value = 0;
      this.setStatus("正在准备上传…");
      this.show(this.el.job, true);
      this.show(this.cancelButton, true);
      const fp = fingerprint(file);
      let upload = null;
      try {
        upload = await this.findResumable(file, fp);
        if (!upload) {
          const data = await Api.post(this.api + "/uploads", {
            filename: file.name,
            size: file.size,
            content_type: file.type || "application/octet-stream",
            purpose: this.purpose
          });
          upload = data.upload;
        }
      } catch (error) {
        this.fail(error, () => this.start(file));
        return;
      }
      store.set(fp, { id: upload.id, purpose: this.purpose, at: Date.now() });
      const job = new Job(this, file, upload, fp);
      this.job = job;
      this.renderUnfinished();
      this.transfer(job);
    }

    async transfer(job) {
      job.stopped = false;
      job.sync(job.upload);
      job.speed = 0;
      job.lastSample = null;
      this.note = "";
      this.setBusy(true);
      this.show(this.cancelButton, true);
      this.renderProgress(job, true);
      clearInterval(this.ticker);
      this.ticker = setInterval(() => {
        job.sampleSpeed();
        this.renderProgress(job, true);
      }, 1000);
      try {
        await job.run();
        if (job !== this.job || job.stopped) return;
        await this.complete(job);
      } catch (error) {
        if (job !== this.job || error instanceof Stopped) return;
        this.fail(error, () => this.resumeJob(job));
      } finally {
        if (job === this.job || !this.job) clearInterval(this.ticker);
      }
    }

    async resumeJob(job) {
      this.setError("");
      this.setStatus("正在核对已上传的部分…");
      try {
        const data = await Api.get(this.api + "/uploads/" + job.upload.id);
        job.upload = data.upload;
      } catch (error) {
        this.fail(error, () => this.resumeJob(job));
        return;
      }
      if (job.upload.status !== "uploading") {
        store.forgetUpload(job.upload.id);
        this.reset();
        this.setError("这次上传已结束或已被取消，请重新选择文件。");
        return;
      }
      this.transfer(job);
    }

    async complete(job) {
      clearInterval(this.ticker);
      this.note = "";
      this.el.progress.value = 100;
      this.setStatus("已上传 100%，正在合并文件…");
      this.show(this.cancelButton, false);
      const parts = Array.from(job.etags.keys()).sort((a, b) => a - b).map((n) => ({ number: n, etag: job.etags.get(n) }));
      let data = null;
      for (let attempt = 1; ; attempt++) {
        try {
          data = await Api.post(this.api + "/uploads/" + job.upload.id + "/complete", { parts: parts });
          break;
        } catch (error) {
          if (!error.retryable || attempt > MAX_RETRIES) {
            this.show(this.cancelButton, true);
            this.fail(error, () => this.resumeJob(job));
            return;
          }
          this.setStatus("已上传 100%。" + (error.network ? Api.NETWORK_MESSAGE : "服务器繁忙，正在重试…"));
          await waitOnline();
          await sleep(backoff(attempt));
        }
      }
      store.forgetUpload(job.upload.id);
      this.unfinished = this.unfinished.filter((u) => u.id !== job.upload.id);
      job.stopped = true;
      this.job = null;
      this.el.file.value = "";
      const asset = data.asset;
      this.dispatch("lms:asset-uploaded", asset);
      this.watchAsset(asset);
    }

    async watchAsset(asset) {
      this.setBusy(true);
      let failures = 0;
      for (;;) {
        this.renderAsset(asset);
        if (asset.status !== "uploaded" && asset.status !== "processing") break;
        await sleep(failures ? backoff(failures) : POLL_MS);
        try {
          const data = await Api.get(this.api + "/media/" + asset.id);
          asset = data.asset;
          failures = 0;
        } catch (error) {
          if (!error.retryable) {
            this.setBusy(false);
            this.fail(error, () => this.watchAsset(asset));
            return;
          }
          failures = Math.min(failures + 1, 5);
          this.setStatus(Api.NETWORK_MESSAGE);
          await waitOnline();
        }
      }
      this.setBusy(false);
      if (asset.status === "ready") this.dispatch("lms:asset-ready", asset);
      else if (asset.status === "failed") this.dispatch("lms:asset-failed", asset);
    }

    renderAsset(asset) {
      const link = this.el["asset-link"];
      this.show(link, false);
      if (asset.status === "uploaded" || asset.status === "processing") {
        const percent = Math.max(0, Math.min(100, Math.round(asset.progress || 0)));
        this.el.progress.value = percent;
        this.setStatus(asset.status === "uploaded" ? "上传完成，等待处理…" : "上传完成，正在处理 " + percent + "%…");
      } else if (asset.status === "ready") {
        this.el.progress.value = 100;
        this.setStatus("处理完成，可以使用了。");
        if (asset.page_url) {
          link.href = asset.page_url;
          link.textContent = "查看" + (asset.title ? "《" + asset.title + "》" : "");
          this.show(link, true);
        }
      } else if (asset.status === "failed") {
        this.setStatus("处理失败。");
        this.setError((asset.error && asset.error.message) || "文件处理失败。");
        this.offerRetry(() => this.retryAsset(asset), "重试");
      } else if (asset.status === "taken_down") {
        this.setStatus("该文件已下架。");
      }
    }

    async retryAsset(asset) {
      this.setError("");
      this.setStatus("正在重新处理…");
      try {
        const data = await Api.post(this.api + "/media/" + asset.id + "/retry", {});
        this.watchAsset(data.asset);
      } catch (error) {
        this.fail(error, () => this.retryAsset(asset));
      }
    }

    fail(error, retry) {
      clearInterval(this.ticker);
      this.setBusy(false);
      this.setError((error && error.message) || "上传失败。");
      this.setStatus("");
      this.autoRetry = null;
      if (retry && (!error || error.retryable)) {
        this.offerRetry(retry, "重试");
        // Dropped connection: carry on by itself as soon as the browser is back online.
        if (error && error.network) this.autoRetry = retry;
      } else if (!this.job) {
        this.show(this.el.job, false);
      }
    }

    async cancel() {
      const job = this.job;
      this.setError("");
      if (!job) {
        this.reset();
        return;
      }
      job.stop();
      this.cancelButton.disabled = true;
      this.setStatus("正在取消…");
      try {
        await Api.del(this.api + "/uploads/" + job.upload.id);
      } catch (error) {
        if (error.status !== 404) {
          this.setError("取消失败：" + error.message + " 可稍后在“未完成的上传”中放弃。");
        }
      } finally {
        this.cancelButton.disabled = false;
      }
      store.forgetUpload(job.upload.id);
      this.unfinished = this.unfinished.filter((u) => u.id !== job.upload.id);
      this.reset();
      this.show(this.el.job, true);
      this.show(this.cancelButton, false);
      this.el.progress.value = 0;
      this.setStatus("已取消上传。");
    }

    reset() {
      if (this.job) this.job.stop();
      this.job = null;
      clearInterval(this.ticker);
      this.retry = null;
      this.retryButton.hidden = true;
      this.el.file.value = "";
      this.setBusy(false);
      this.show(this.el.job, false);
      this.renderUnfinished();
    }
  }

  const instances = [];
  function bind(root) {
    if (root.lmsUploader) return root.lmsUploader;
    const widget = new Uploader(root);
    root.lmsUploader = widget;
    instances.push(widget);
    return widget;
  }

  window.LmsUploader = {
    instances: instances,
    bind: bind,
    fingerprint: fingerprint,
    formatBytes: formatBytes,
    formatSpeed: formatSpeed,
    formatDuration: formatDuration
  };

  function bindAll() {
    document.querySelectorAll("[data-uploader]").forEach(bind);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bindAll);
  else bindAll();
})();
