/* Same-origin JSON calls for the platform's pages: window.LmsApi.
 *
 *   LmsApi.get(url) / post(url, body) / put(url, body) / del(url) -> Promise of the parsed JSON
 *   (null for 204). Every call sends the session cookie (credentials: "same-origin"); non-GET
 *   calls carry the X-CSRFToken header from <meta name="csrf-token">.
 *
 *   Failures reject with LmsApi.ApiError: {status, code, message, fields, body, network, retryable}.
 *   The server's error body {"error": "code", "message": "中文信息", "fields": {...}} gives code,
 *   message and fields; a dropped connection gives status 0, code "network" and
 *   LmsApi.NETWORK_MESSAGE. retryable is true for network errors, 429 and 5xx.
 *
 * No bundler: load it with <script src=".../js/api.js"></script> before the scripts that use it.
 */
(function () {
  "use strict";

  var NETWORK_MESSAGE = "网络连接中断，正在重试…";
  var STATUS_MESSAGES = {
    400: "请求有误，请刷新页面后重试。",
    401: "登录已过期，请刷新页面重新登录。",
    403: "没有权限执行此操作。",
    404: "要找的内容不存在或已被删除。",
    409: "操作与当前状态冲突，请刷新页面后重试。",
    413: "文件太大。",
    422: "提交的内容有误。",
    429: "操作太频繁，请稍后再试。"
  };

  function ApiError(message, info) {
    var error = new Error(message);
    Object.setPrototypeOf(error, ApiError.prototype);
    info = info || {};
    error.name = "ApiError";
    error.status = info.status || 0;
    error.code = info.code || (error.status ? "http_" + error.status : "network");
    error.fields = info.fields || {};
    error.body = info.body || null;
    error.network = !!info.network;
    error.retryable = error.network || error.status === 429 || error.status >= 500;
    return error;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") || "" : "";
  }

  function statusMessage(status) {
    if (STATUS_MESSAGES[status]) return STATUS_MESSAGES[status];
    if (status >= 500) return "服务器暂时不可用，请稍后再试。";
    return "请求失败（" + status + "）。";
  }

  /* Turns a fetch Response into parsed JSON or an ApiError (shared with code that calls fetch itself). */
  function readResponse(response) {
    if (response.status === 204 || response.status === 205) return Promise.resolve(null);
    return response.text().then(function (text) {
      var data = null;
      var isJson = /json/i.test(response.headers.get("Content-Type") || "");
      if (text && isJson) {
        try { data = JSON.parse(text); } catch (e) { data = null; }
      }
      if (!response.ok) {
        var body = data && typeof data === "object" ? data : null;
        throw ApiError((body && body.message) || statusMessage(response.status), {
          status: response.status,
          code: body && body.error,
          fields: body && body.fields,
          body: body
        });
      }
      if (text && data === null) {
        // A 200 that is not JSON: typically the sign-in page after the session expired.
        throw ApiError(response.redirected ? statusMessage(401) : "服务器返回了无法识别的内容。", {
          status: response.redirected ? 401 : response.status,
          code: response.redirected ? "unauthorized" : "bad_response"
        });
      }
      return data;
    });
  }

  function request(method, url, body, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    if (options.headers) Object.keys(options.headers).forEach(function (k) { headers[k] = options.headers[k]; });
    var init = { method: method, credentials: "same-origin", headers: headers, cache: "no-store" };
    if (body !== undefined && body !== null) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (options.keepalive) init.keepalive = true;
    if (options.signal) init.signal = options.signal;
    return fetch(url, init).then(readResponse, function (error) {
      if (error && error.name === "AbortError") throw error;
      throw ApiError(NETWORK_MESSAGE, { network: true });
    });
  }

  window.LmsApi = {
    NETWORK_MESSAGE: NETWORK_MESSAGE,
    ApiError: ApiError,
    csrfToken: csrfToken,
    readResponse: readResponse,
    request: request,
    get: function (url, options) { return request("GET", url, undefined, options); },
    post: function (url, body, options) { return request("POST", url, body === undefined ? {} : body, options); },
    put: function (url, body, options) { return request("PUT", url, body, options); },
    del: function (url, options) { return request("DELETE", url, undefined, options); }
  };
})();
