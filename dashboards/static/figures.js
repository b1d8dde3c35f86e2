/* Draws every figure of a page: each <div data-plotly="{data, layout, config}"> becomes a
   plotly chart. One static file instead of an inline script per figure, so the pages run
   under a Content-Security-Policy without 'unsafe-inline' scripts.

   plotly does not wrap text: a legend entry, axis title or chart title longer than the chart
   is cut off (on a phone, and the y-axis title of a short chart even on a laptop). Before a
   chart is drawn, such texts are broken into lines (<br>) that fit the chart's box, measured
   with the chart's font. */
(function () {
  "use strict";
  var canvas = document.createElement("canvas").getContext("2d");

  function textWidth(text, size, family) {
    canvas.font = size + "px " + family;
    return canvas.measureText(text).width;
  }

  /* Break text at spaces into lines no wider than maxPx (a single longer word stays whole). */
  function wrap(text, maxPx, size, family) {
    if (typeof text !== "string" || text.indexOf("<br>") >= 0 || maxPx <= 0) return text;
    if (textWidth(text, size, family) <= maxPx) return text;
    var words = text.split(" "), lines = [], line = "";
    for (var i = 0; i < words.length; i++) {
      var next = line ? line + " " + words[i] : words[i];
      if (line && textWidth(next, size, family) > maxPx) {
        lines.push(line);
        line = words[i];
      } else {
        line = next;
      }
    }
    if (line) lines.push(line);
    return lines.join("<br>");
  }

  /* The chart's font: family, text size, and plotly's default sizes of axis titles (1.2×) and
     the chart title (1.4×). */
  function fontOf(layout) {
    var font = layout.font || {}, size = font.size || 12;
    return {family: font.family || "sans-serif", size: size, axis: Math.round(1.2 * size),
            title: Math.round(1.4 * size)};
  }

  function titleText(title) {
    return title && typeof title === "object" ? title.text : title;
  }

  function setTitle(holder, key, text) {
    var title = holder[key];
    if (title && typeof title === "object") title.text = text; else holder[key] = {text: text};
  }

  /* Categories on the y axis (horizontal bars, dot plots): long names (sites, weekends) would
     take most of a phone's width from the plot; their tick labels are wrapped to maxPx (the
     data and the hover texts keep the full names). Returns the number of lines added. */
  function wrapCategories(traces, layout, maxPx, size, family) {
    var added = 0;
    var byAxis = {};
    for (var i = 0; i < traces.length; i++) {
      var tr = traces[i];
      if (!Array.isArray(tr.y) || typeof tr.y[0] !== "string") continue;
      var key = "yaxis" + (tr.yaxis && tr.yaxis !== "y" ? tr.yaxis.slice(1) : "");
      var seen = byAxis[key] || (byAxis[key] = {vals: [], texts: [], any: false});
      for (var j = 0; j < tr.y.length; j++) {
        var v = tr.y[j];
        if (typeof v !== "string" || seen.vals.indexOf(v) >= 0) continue;
        var w = wrap(v, maxPx, size, family);
        seen.vals.push(v);
        seen.texts.push(w);
        if (w !== v) {
          seen.any = true;
          added += w.split("<br>").length - 1;
        }
      }
    }
    var keys = Object.keys(byAxis);
    for (var k = 0; k < keys.length; k++) {
      var ax = byAxis[keys[k]];
      if (!ax.any) continue;
      var axis = layout[keys[k]] || (layout[keys[k]] = {});
      if (axis.tickvals || axis.ticktext) continue;  // the figure chose its own labels
      axis.tickmode = "array";
      axis.tickvals = ax.vals;
      axis.ticktext = ax.texts;
    }
    return added;
  }

  function fit(spec, el) {
    var layout = spec.layout || (spec.layout = {});
    var font = fontOf(layout), family = font.family, size = font.size;
    var axisSize = font.axis, titleSize = font.title;
    var width = el.clientWidth || window.innerWidth;
    var height = layout.height || 450;  // plotly's default when the layout names none
    var margin = layout.margin || {};
    var top = margin.t || 100, bottom = margin.b || 80;
    var side = Math.max(margin.l || 80, margin.r || 80) + 40;  // y-axis automargin may grow
    var narrow = width < 700, legendLines = 0;
    var traces = spec.data || [];
    for (var i = 0; i < traces.length; i++) {  // legend entries: symbol (40 px) + text
      if (traces[i].showlegend !== false && typeof traces[i].name === "string") {
        traces[i].name = wrap(traces[i].name, width - 60, size, family);
        legendLines += traces[i].name.split("<br>").length;
      }
    }
    var extraLines = narrow ? wrapCategories(traces, layout, 0.4 * width, size, family) : 0;
    // a horizontal legend below the plot takes its height from the plot area: on a phone
    // (about one entry per row) the chart grows by the legend instead, and by wrapped labels
    if (narrow && legendLines > 1) extraLines += legendLines;
    if (extraLines) layout.height = height + extraLines * (size + 8);
    var title = titleText(layout.title);
    if (title) setTitle(layout, "title", wrap(title, width - 20, titleSize, family));
    var keys = Object.keys(layout);
    for (var k = 0; k < keys.length; k++) {
      var axis = layout[keys[k]];
      var text = titleText(axis && axis.title);
      if (!text) continue;
      if (/^xaxis\d*$/.test(keys[k])) {  // centred on the plot area
        setTitle(axis, "title", wrap(text, width - 2 * side, axisSize, family));
      } else if (/^yaxis\d*$/.test(keys[k])) {
        var wrapped = wrap(text, 0.9 * (height - top - bottom), axisSize, family);
        if (wrapped !== text) {
          setTitle(axis, "title", wrapped);
          axis.automargin = true;  // room for the title's extra lines
        }
      }
    }
    return spec;
  }

  /* After drawing, each x axis' place is known (long category labels widen the left margin, a
     domain may end early): its title is centred on the axis and may reach the chart's edges. */
  function refit(el, spec) {
    var full = el._fullLayout, layout = spec.layout;
    if (!full || !full.width) return;
    var font = fontOf(layout), family = font.family, size = font.axis;
    var update = {}, keys = Object.keys(layout);
    for (var k = 0; k < keys.length; k++) {
      var text = /^xaxis\d*$/.test(keys[k]) && titleText(layout[keys[k]].title);
      var axis = full[keys[k]];
      if (!text || !axis || axis._length === undefined) continue;
      var centre = axis._offset + axis._length / 2;
      var room = 2 * Math.min(centre, full.width - centre) - 10;
      var wrapped = wrap(text.split("<br>").join(" "), room, size, family);
      if (wrapped !== text) update[keys[k] + ".title.text"] = wrapped;
    }
    if (Object.keys(update).length) window.Plotly.relayout(el, update);
  }

  function draw() {
    var nodes = document.querySelectorAll("div[data-plotly]");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var spec = fit(JSON.parse(el.getAttribute("data-plotly")), el);
      window.Plotly.newPlot(el, spec.data, spec.layout, spec.config).then(refit.bind(null, el, spec));
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
