/* Report pages: ECharts from the page's <script type="application/json" id="report-data"> block, and the
 * exports page's progress refresh (GET /api/v1/reports/exports every few seconds while a job runs). */
(function () {
  "use strict";

  var COLORS = ["#b71c1c", "#e57373", "#8d6e63", "#ffb300", "#90a4ae"];

  function charts() {
    var holder = document.getElementById("report-data");
    if (!holder || !window.echarts) return;
    var data = JSON.parse(holder.textContent || "{}");
    var labels = data.labels || {};
    var made = [];
    function chart(name, option) {
      var el = document.querySelector('[data-chart="' + name + '"]');
      if (!el) return;
      var c = window.echarts.init(el);
      c.setOption(option);
      made.push(c);
    }
    chart("months", {
      color: COLORS,
      tooltip: { trigger: "axis" },
      legend: { data: [labels.hours, labels.online] },
      xAxis: { type: "category", data: (data.months || []).map(function (m) { return m.month; }) },
      yAxis: { type: "value" },
      series: [
        { name: labels.hours, type: "line", data: (data.months || []).map(function (m) { return m.hours; }) },
        { name: labels.online, type: "bar", data: (data.months || []).map(function (m) { return m.online; }) }
      ]
    });
    chart("categories", {
      color: COLORS,
      tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
      series: [{ type: "pie", radius: ["35%", "65%"], data: data.categories || [] }]
    });
    chart("units", {
      color: COLORS,
      tooltip: { trigger: "axis" },
      grid: { containLabel: true },
      xAxis: { type: "value", name: labels.per_cadre },
      yAxis: { type: "category", inverse: true, data: (data.units || []).map(function (u) { return u.name; }) },
      series: [{ type: "bar", data: (data.units || []).map(function (u) { return u.value; }) }]
    });
    window.addEventListener("resize", function () { made.forEach(function (c) { c.resize(); }); });
  }

  var STATUS = { queued: "排队中", running: "生成中", done: "已完成", failed: "失败" };

  function exportsPage() {
    var page = document.querySelector("[data-exports]");
    if (!page || !window.LmsApi) return;
    function pending() {
      return Array.prototype.some.call(page.querySelectorAll('[data-role="status"]'), function (el) {
        return /%/.test(el.textContent);
      });
    }
    function refresh() {
      window.LmsApi.get(page.getAttribute("data-api")).then(function (body) {
        (body.items || []).forEach(function (job) {
          var row = page.querySelector('[data-export="' + job.id + '"]');
          if (!row) return;
          var status = row.querySelector('[data-role="status"]');
          status.textContent = (STATUS[job.status] || job.status) +
            (job.status === "queued" || job.status === "running" ? " " + job.progress + "%" : "");
          var link = row.querySelector('[data-role="link"]');
          if (job.download_url && !link.querySelector("a")) {
            var a = document.createElement("a");
            a.className = "button";
            a.href = job.download_url;
            a.textContent = "下载";
            link.appendChild(a);
          }
        });
        if (pending()) window.setTimeout(refresh, 3000);
      }, function () { window.setTimeout(refresh, 10000); });
    }
    if (pending()) window.setTimeout(refresh, 2000);
  }

  document.addEventListener("DOMContentLoaded", function () { charts(); exportsPage(); });
})();
