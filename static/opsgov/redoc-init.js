/* Starts ReDoc on the API docs page (templates/api/redoc.html) without an inline script.
   ReDoc's styles are <style> elements it inserts at run time; the Content-Security-Policy admits
   them by the nonce this script tag carries, which ReDoc copies onto each (its `nonce` option). */
(function () {
  "use strict";
  var script = document.currentScript;
  var container = document.getElementById("redoc-container");
  var options = JSON.parse(container.getAttribute("data-settings") || "{}");
  options.nonce = script.nonce;
  window.Redoc.init(container.getAttribute("data-spec-url"), options, container);
})();
