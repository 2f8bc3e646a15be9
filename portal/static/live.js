// Live alerts (progressive enhancement): the server sends each new alert as the same HTML the
// page renders; without this script the inbox is a page to reload.
(function () {
  var list = document.getElementById("alerts");
  var status = document.getElementById("live-status");
  if (!list || !window.EventSource) return;
  var source = new EventSource(list.getAttribute("data-live"));
  source.addEventListener("ready", function () {
    status.textContent = "Live: new alerts appear here as they are raised.";
    list.setAttribute("data-listening", "true");
  });
  source.addEventListener("alert", function (event) {
    var holder = document.createElement("template");
    holder.innerHTML = event.data.trim();
    var item = holder.content.firstElementChild;
    if (!item || document.getElementById(item.id)) return;
    list.insertBefore(item, list.firstChild);
    var none = document.getElementById("no-alerts");
    if (none) none.remove();
    status.textContent = "New alert: " + item.querySelector(".alert-head a").textContent;
  });
  source.addEventListener("signed-out", function () {
    source.close();
    status.textContent = "You have been signed out. Reload the page to sign in again.";
  });
  source.onerror = function () {
    status.textContent = "Live updates paused; retrying. Reload the page to see new alerts.";
  };
})();
