// Live updates of the incident list and details pages.
//
// Each page subscribes to its server-sent event stream. Every event carries
// JSON data, and the page builds elements from it with textContent, never
// with innerHTML, so incident text is always shown as text.
"use strict";

(function () {
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function hiddenInput(name, value) {
    var input = element("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    return input;
  }

  function postForm(action, className) {
    var form = element("form", className);
    form.method = "post";
    form.action = action;
    form.appendChild(hiddenInput("csrf_token", csrfToken()));
    return form;
  }

  function showStatus(text) {
    var status = document.getElementById("live-status");
    if (status) status.textContent = text;
  }

  // Open the stream and call handlers[event.type] with the parsed data.
  function subscribe(url, handlers) {
    var source = new EventSource(url);
    Object.keys(handlers).forEach(function (name) {
      source.addEventListener(name, function (event) {
        showStatus("");
        handlers[name](JSON.parse(event.data));
      });
    });
    source.addEventListener("problem", function (event) {
      showStatus(JSON.parse(event.data).message);
    });
    source.addEventListener("end", function (event) {
      source.close();
      showStatus(JSON.parse(event.data).reason);
    });
    source.addEventListener("open", function () {
      showStatus("");
    });
    return source;
  }

  // The incident list.

  function incidentRow(row) {
    var tr = element("tr", "status-" + row.status.toLowerCase());
    tr.dataset.arn = row.arn;
    tr.dataset.digest = row.digest;
    var titleCell = element("td");
    var link = element("a", null, row.title);
    link.href = row.path;
    titleCell.appendChild(link);
    if (row.shared) {
      titleCell.appendChild(document.createTextNode(" "));
      titleCell.appendChild(element("span", "badge shared", "account " + row.owner));
    }
    tr.appendChild(titleCell);
    var statusCell = element("td");
    statusCell.appendChild(element("span", "badge status", row.status));
    tr.appendChild(statusCell);
    [row.impact, row.plan, row.created, row.resolved].forEach(function (text) {
      tr.appendChild(element("td", null, text));
    });
    return tr;
  }

  function startList(list) {
    var body = document.getElementById("incident-rows");
    subscribe(list.dataset.stream + window.location.search, {
      incidents: function (data) {
        var rows = {};
        Array.prototype.forEach.call(body.querySelectorAll("tr[data-arn]"), function (tr) {
          rows[tr.dataset.arn] = tr;
        });
        data.changed.forEach(function (row) {
          var current = rows[row.arn];
          if (!current || current.dataset.digest !== row.digest) rows[row.arn] = incidentRow(row);
        });
        var listed = {};
        data.order.forEach(function (arn) { listed[arn] = true; });
        Object.keys(rows).forEach(function (arn) {
          if (!listed[arn] && rows[arn].parentNode) rows[arn].parentNode.removeChild(rows[arn]);
        });
        data.order.forEach(function (arn) {
          if (rows[arn]) body.appendChild(rows[arn]);
        });
        document.getElementById("empty-list").hidden = data.order.length > 0;
      },
    });
  }

  // The incident details page, with one renderer per section.

  function emptyItem(tag, text) {
    return element(tag, "empty", text);
  }

  function renderOverview(container, data) {
    var texts = {
      status: data.status,
      impactText: data.impactText,
      plan: data.plan,
      owner: data.owner + (data.shared ? " (shared with this account)" : ""),
      created: data.created,
      resolved: data.resolved,
      duration: data.duration,
      summary: data.summary,
      trigger: data.trigger.map(function (pair) { return pair[0] + ": " + pair[1]; }).join("\n"),
      lastModifiedBy: data.lastModifiedBy,
      arn: data.arn,
    };
    Object.keys(texts).forEach(function (field) {
      var node = container.querySelector('[data-field="' + field + '"]');
      if (node) node.textContent = texts[field];
    });
    document.getElementById("incident-title").textContent = data.title;
    document.title = data.title;
    var resolve = document.getElementById("resolve-form");
    if (resolve) resolve.hidden = data.status !== "OPEN";
  }

  function renderTimeline(container, events) {
    var items = events.map(function (event) {
      var li = element("li");
      li.appendChild(element("span", "time", event.time));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(element("span", "badge", event.type));
      li.appendChild(element("p", "text", event.text));
      return li;
    });
    container.replaceChildren.apply(container, items.length ? items : [emptyItem("li", "No timeline events.")]);
  }

  function renderRelated(container, related) {
    var items = related.map(function (item) {
      var li = element("li");
      li.appendChild(element("span", "badge", item.type));
      li.appendChild(document.createTextNode(" " + item.title + " "));
      if (item.link) {
        var link = element("a", null, item.value);
        link.href = item.link;
        link.rel = "noopener noreferrer";
        li.appendChild(link);
      } else {
        li.appendChild(element("span", "arn", item.value));
      }
      return li;
    });
    container.replaceChildren.apply(container, items.length ? items : [emptyItem("li", "No related items.")]);
  }

  function pageItem(page, basePath) {
    var li = element("li");
    li.dataset.page = page.arn;
    li.appendChild(element("span", null, page.contact));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(element("span", null, "sent " + page.sent));
    li.appendChild(document.createTextNode(" "));
    if (page.read) {
      li.appendChild(element("span", "badge acknowledged", "acknowledged " + page.read));
    } else if (page.canAccept) {
      var form = postForm(basePath + "/pages/accept", "inline");
      form.appendChild(hiddenInput("page", page.arn));
      form.appendChild(element("button", null, "Acknowledge"));
      li.appendChild(form);
    } else {
      li.appendChild(element("span", "badge", "not acknowledged"));
    }
    return li;
  }

  function renderEngagements(container, section, basePath) {
    var blocks = section.items.map(function (engagement) {
      var block = element("div", "engagement");
      block.appendChild(element("h3", null, engagement.contact));
      var meta = "Started " + engagement.started + " by " + engagement.sender;
      if (engagement.stopped) meta += ", stopped " + engagement.stopped;
      block.appendChild(element("p", "meta", meta));
      var list = element("ul", "pages");
      engagement.pages.forEach(function (page) { list.appendChild(pageItem(page, basePath)); });
      if (!engagement.pages.length) list.appendChild(emptyItem("li", "No pages yet."));
      block.appendChild(list);
      return block;
    });
    if (!blocks.length) blocks.push(emptyItem("p", "No engagements."));
    if (section.error) blocks.unshift(element("p", "flash flash-error", section.error));
    container.replaceChildren.apply(container, blocks);
  }

  function pairList(title, pairs) {
    var list = element("dl", "pairs");
    list.appendChild(element("dt", "pairs-title", title));
    pairs.forEach(function (pair) {
      list.appendChild(element("dt", null, pair[0]));
      list.appendChild(element("dd", "text", pair[1]));
    });
    return list;
  }

  // A form whose Approve and Reject buttons send SendAutomationSignal for a waiting aws:approve step.
  function approvalForm(run, basePath) {
    var form = postForm(basePath + "/runbooks/" + encodeURIComponent(run.id) + "/signal", "inline approval");
    var comment = element("input");
    comment.type = "text";
    comment.name = "comment";
    comment.placeholder = "Comment";
    comment.setAttribute("aria-label", "Comment");
    comment.maxLength = 200;
    form.appendChild(comment);

    [["Approve", "primary"], ["Reject", null]].forEach(function (choice) {
      var button = element("button", choice[1], choice[0]);
      button.type = "submit";
      button.name = "signal";
      button.value = choice[0];
      form.appendChild(button);
    });
    return form;
  }

  function stepItem(run, step, basePath) {
    var li = element("li", "step");
    var heading = element("p");
    heading.appendChild(element("strong", null, step.name));
    heading.appendChild(document.createTextNode(" "));
    heading.appendChild(element("span", "meta", step.action));
    heading.appendChild(document.createTextNode(" "));
    heading.appendChild(element("span", "badge", step.status));
    li.appendChild(heading);

    if (step.inputs.length) li.appendChild(pairList("Inputs", step.inputs));
    if (step.outputs.length) li.appendChild(pairList("Outputs", step.outputs));
    if (step.failure) li.appendChild(element("p", "text", step.failure));
    if (step.awaitingApproval) li.appendChild(approvalForm(run, basePath));
    return li;
  }

  function renderRunbooks(container, runbooks, basePath) {
    var blocks = runbooks.map(function (run) {
      var block = element("div", "runbook");
      var heading = element("h3", null, run.document || run.id);
      if (run.status) {
        heading.appendChild(document.createTextNode(" "));
        heading.appendChild(element("span", "badge", run.status));
      }
      block.appendChild(heading);
      block.appendChild(element("p", "meta arn", run.arn));
      if (run.error) block.appendChild(element("p", "flash flash-error", run.error));
      if (run.notice) {
        var notice = element("p", "flash notice", run.notice + " ");
        var link = element("a", null, "Switch role");
        link.href = "/console/switch-role";
        notice.appendChild(link);
        block.appendChild(notice);
      }
      if (run.failure) block.appendChild(element("p", "text", run.failure));
      var steps = element("ol", "steps");
      run.steps.forEach(function (step) { steps.appendChild(stepItem(run, step, basePath)); });
      block.appendChild(steps);
      return block;
    });
    container.replaceChildren.apply(container, blocks.length ? blocks : [emptyItem("p", "No runbooks ran for this incident.")]);
  }

  function startTabs(article) {
    var links = article.querySelectorAll("nav.tabs a[data-tab]");
    var panels = article.querySelectorAll("section.panel");
    function select(name) {
      Array.prototype.forEach.call(panels, function (panel) { panel.hidden = panel.id !== name; });
      Array.prototype.forEach.call(links, function (link) {
        if (link.dataset.tab === name) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      });
    }
    Array.prototype.forEach.call(links, function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        select(link.dataset.tab);
        history.replaceState(null, "", "#" + link.dataset.tab);
      });
    });
    var requested = window.location.hash.slice(1);
    var known = requested && article.querySelector("section.panel#" + CSS.escape(requested));
    select(known ? requested : "overview");
  }

  function startDetails(article) {
    var basePath = window.location.pathname.replace(/\/$/, "");
    var renderers = {
      overview: renderOverview,
      timeline: renderTimeline,
      related: renderRelated,
      engagements: renderEngagements,
      runbooks: renderRunbooks,
    };
    var handlers = {};
    Object.keys(renderers).forEach(function (section) {
      handlers[section] = function (message) {
        var container = article.querySelector('[data-section="' + section + '"]');
        if (!container || container.dataset.digest === message.digest) return;
        renderers[section](container, message.data, basePath);
        container.dataset.digest = message.digest;
      };
    });
    startTabs(article);
    subscribe(article.dataset.stream, handlers);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("incident-list");
    if (list) startList(list);
    var article = document.getElementById("incident");
    if (article) startDetails(article);
  });
})();
