/* Draws every figure of a page: each <div data-plotly="{data, layout, config}"> becomes a
   plotly chart. One static file instead of an inline script per figure, so the pages run
   under a Content-Security-Policy without 'unsafe-inline' scripts. */
(function () {
  "use strict";
  function draw() {
    var nodes = document.querySelectorAll("div[data-plotly]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var spec = JSON.parse(el.getAttribute("data-plotly"));
      window.Plotly.newPlot(el, spec.data, spec.layout, spec.config);
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
