// dev.js: what every dev page shares, and the part of billingd's client a
// frontend copies. Plain JavaScript; no build step, no dependencies.
"use strict";

// Where billingd is, and who we are. The page takes ?api=<base URL> (default:
// its own origin) and #token=<JWT>. The token goes in the fragment because
// browsers never send a fragment to any server, so it stays out of access
// logs. Both are kept in sessionStorage, so that the next pages of this tab
// (after the redirect back from checkout, too) have them; a value given to a
// later page replaces the kept one.
const dev = (() => {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.slice(1));
  const keep = (key, given) => {
    if (given) sessionStorage.setItem(key, given);
    return sessionStorage.getItem(key);
  };
  const api = (keep("billingd.api", query.get("api")) || location.origin).replace(/\/+$/, "");
  const token = keep("billingd.token", fragment.get("token"));
  if (fragment.has("token")) {
    // Kept now: take it out of the address bar and the history.
    history.replaceState(null, "", location.pathname + location.search);
  }
  return { api, token, query };
})();

// ApiError is a call that did not succeed. status is the HTTP status, or 0
// when no answer reached the page.
class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, on a 429
  }
}

// call sends one request to billingd and returns the data of its envelope.
// Every answer is {"success":true,"data":{...}} or
// {"success":false,"error":{"code","message","requestId"}}; a failure throws
// an ApiError carrying error.message, which is written to be shown to users.
async function call(method, path, body) {
  if (!dev.token) {
    throw new ApiError(0, "NO_TOKEN", "No token: open this page with #token=<JWT> at the end of its address (billingd dev prints one).");
  }
  const headers = { Authorization: "Bearer " + dev.token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(dev.api + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit", // a bearer token, never cookies
    });
  } catch (e) {
    // fetch rejects only when no answer reaches the page: billingd is down,
    // or the browser blocked the answer because billingd did not allow this
    // page's origin (CORS). The page cannot tell which: the browser hides it.
    throw new ApiError(0, "UNREACHABLE",
      `billingd at ${dev.api} could not be reached, or the browser blocked the call: ` +
      `check that billingd runs and that CORS_ALLOWED_ORIGINS includes ${location.origin}.`);
  }
  const envelope = await resp.json().catch(() => null);
  if (resp.ok && envelope && envelope.success) return envelope.data;
  const error = (envelope && envelope.error) || {};
  // Retry-After is readable cross-origin because billingd exposes it
  // (Access-Control-Expose-Headers), like ETag and X-Request-Id.
  throw new ApiError(resp.status, error.code || "", error.message || `billingd answered ${resp.status}`,
    Number(resp.headers.get("Retry-After")) || 1);
}

// show puts text in the element with the given id.
function show(id, text) {
  document.getElementById(id).textContent = text;
}

// onClick runs action when the button is clicked, with the button disabled
// and busyText in #status meanwhile; a failure shows its message in #status
// and enables the button again.
function onClick(id, busyText, action) {
  const button = document.getElementById(id);
  button.addEventListener("click", async () => {
    button.disabled = true;
    show("status", busyText);
    try {
      await action();
    } catch (err) {
      show("status", err.message);
      button.disabled = false;
    }
  });
}

// pageURL is the absolute URL of another dev page, with its query.
function pageURL(name, query) {
  const url = new URL(name, location.href);
  url.search = query ? new URLSearchParams(query).toString() : "";
  return url.href;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
