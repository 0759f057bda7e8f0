/* opsgov: small progressive enhancements on top of htmx. No build step. */
(function () {
  "use strict";
  // A polled fragment answered by the login page means the session ended:
  // reload the whole page so the user sees the login form, not a login form
  // squeezed into the gate list.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.responseURL && xhr.responseURL.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.reload();
    }
  });
})();
