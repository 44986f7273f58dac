// Tocsin console: helpers shared by every page. Pages read the CSRF token
// from the <meta name="csrf-token"> tag and send it with each state change.
"use strict";

window.TocsinConsole = (function () {
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Send a JSON request with the CSRF token; resolve to the parsed JSON body.
  async function requestJson(url, options) {
    const settings = Object.assign({ method: "GET", credentials: "same-origin" }, options || {});
    settings.headers = Object.assign({ Accept: "application/json" }, settings.headers || {});
    if (settings.method !== "GET" && settings.method !== "HEAD") {
      settings.headers["X-CSRF-Token"] = csrfToken();
    }
    if (settings.body !== undefined && typeof settings.body !== "string") {
      settings.headers["Content-Type"] = "application/json";
      settings.body = JSON.stringify(settings.body);
    }
    const response = await fetch(url, settings);
    if (response.status === 401) {
      window.location.assign("/console/signin?next=" + encodeURIComponent(window.location.pathname));
      throw new Error("The console session has ended; sign in again.");
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : {};
    if (!response.ok) {
      throw new Error(data.message || "Request failed with HTTP " + response.status);
    }
    return data;
  }

  return { csrfToken: csrfToken, requestJson: requestJson };
})();
