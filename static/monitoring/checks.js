/* Checks pages: copy a ping URL, select it on focus, confirm deletions. No build step. */
(function () {
  "use strict";

  function flash(button, text) {
    var original = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", original);
    button.textContent = text;
    window.setTimeout(function () { button.textContent = original; }, 1500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var text = button.getAttribute("data-copy");
    var field = button.parentNode.querySelector(".copy-field");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { flash(button, "Copied"); },
        function () { if (field) { field.select(); } flash(button, "Press Ctrl+C"); }
      );
    } else {
      // Plain http (not localhost): no clipboard API; select the text for the user to copy.
      if (field) { field.focus(); field.select(); }
      flash(button, "Press Ctrl+C");
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
