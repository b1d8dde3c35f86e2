// Charts on narrow screens (phones): fewer axis ticks and the legend below the plot, so labels
// neither overlap nor squeeze the plotting area. Runs once the page's figures exist; plotly's
// own "responsive" config keeps resizing them afterwards.
(function () {
  "use strict";
  var NARROW_PX = 640;
  function adapt() {
    if (!window.Plotly || window.innerWidth >= NARROW_PX) { return; }
    var plots = document.querySelectorAll(".js-plotly-plot");
    for (var i = 0; i < plots.length; i++) {
      window.Plotly.relayout(plots[i], {
        "xaxis.nticks": 4,
        "yaxis.nticks": 6,
        "legend.orientation": "h",
        "legend.x": 0,
        "legend.y": -0.35,
        "margin.l": 48,
        "margin.r": 8,
        "title.font.size": 14
      });
    }
  }
  if (document.readyState === "complete") { adapt(); } else { window.addEventListener("load", adapt); }
})();
