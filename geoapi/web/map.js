/* geoapi map viewer: MapLibre GL JS over the service's own vector tiles (no basemap, no CDN). */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("geoapi-config").textContent);
  const statusEl = document.getElementById("status");
  const form = document.getElementById("filters");
  const SOURCE = "geoapi";
  const FALLBACK_COLOUR = "#37474f";
  // Leaf transport types (names as in /api/v1/transport-types) and their line colours.
  const TRANSPORT_COLOURS = [
    [["Walk", "Wheelchair", "Rock Climbing"], "#2e7d32", "Walk"],
    [["Bicycle", "Electric Bicycle"], "#1565c0", "Bicycle"],
    [["Car", "Electric Car"], "#c62828", "Car"],
    [["Scooter", "Electric Scooter", "Rollerskate", "Skateboard"], "#8e24aa", "Scooter, skates"],
    [["Canoe", "Kayak", "Kiteboard", "Paddleboard", "Row", "Scuba Dive", "Sail", "Surf", "Swim",
      "Windsurf", "Boat", "Freedive"], "#00838f", "Water"],
    [["Ski", "Snowboard", "Snowshoe", "Ice Skating", "Snowmobile"], "#5c6bc0", "Snow"],
    [["BASE Jump", "Glider", "Hang Glide", "Parachute", "Paraglide", "Wingsuit", "Helicopter",
      "Plane", "Drone"], "#ef6c00", "Air"],
  ];

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", Boolean(isError));
  }

  function transportColour() {
    const expr = ["match", ["coalesce", ["get", "transport_type"], ""]];
    for (const [names, colour] of TRANSPORT_COLOURS) expr.push(names, colour);
    expr.push(FALLBACK_COLOUR);
    return expr;
  }

  // Filters: the page's query string holds transport_type, tag (comma-separated), from, to.

  function readFilters() {
    const params = new URLSearchParams(window.location.search);
    return {
      transport_type: params.get("transport_type") || "",
      tag: params.getAll("tag").join(", "),
      from: params.get("from") || "",
      to: params.get("to") || "",
    };
  }

  function splitTags(text) {
    return text.split(",").map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
  }

  /** The tile filter arguments (the service's names) for a filter state. */
  function tileArgs(filters) {
    const args = new URLSearchParams();
    if (filters.transport_type) args.set("transport_type", filters.transport_type);
    for (const tag of splitTags(filters.tag)) args.append("tag", tag);
    if (filters.from || filters.to) {
      const start = filters.from ? filters.from + "T00:00:00Z" : "..";
      const end = filters.to ? filters.to + "T23:59:59Z" : "..";
      args.set("datetime", start + "/" + end);
    }
    return args;
  }

  function tileJsonUrl(filters) {
    const args = tileArgs(filters).toString();
    return new URL(config.tilejson + (args ? "?" + args : ""), window.location.origin).href;
  }

  function writeFiltersToUrl(filters) {
    const params = new URLSearchParams();
    if (filters.transport_type) params.set("transport_type", filters.transport_type);
    for (const tag of splitTags(filters.tag)) params.append("tag", tag);
    if (filters.from) params.set("from", filters.from);
    if (filters.to) params.set("to", filters.to);
    const query = params.toString();
    const url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
    window.history.replaceState(window.history.state, "", url);
  }

  function formFilters() {
    const data = new FormData(form);
    return {
      transport_type: String(data.get("transport_type") || ""),
      tag: String(data.get("tag") || ""),
      from: String(data.get("from") || ""),
      to: String(data.get("to") || ""),
    };
  }

  function fillForm(filters) {
    form.elements.transport_type.value = filters.transport_type;
    form.elements.tag.value = filters.tag;
    form.elements.from.value = filters.from;
    form.elements.to.value = filters.to;
  }

  // Reference lists for the filter inputs.

  async function fetchJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && (body.detail || body.title);
      throw new Error(detail || "HTTP " + response.status + " for " + url);
    }
    return body;
  }

  async function loadTransportTypes(selected) {
    const select = form.elements.transport_type;
    const tree = await fetchJson(config.transport_types);
    for (const parent of tree) {
      const group = document.createElement("optgroup");
      group.label = parent.name;
      const all = document.createElement("option");
      all.value = parent.name;
      all.textContent = "All " + parent.name;
      group.appendChild(all);
      for (const child of parent.children || []) {
        const option = document.createElement("option");
        option.value = child.name;
        option.textContent = child.name;
        group.appendChild(option);
      }
      select.appendChild(group);
    }
    if (selected) {
      const known = Array.from(select.options).some((o) => o.value === selected);
      if (!known) {
        const option = document.createElement("option");
        option.value = selected;
        option.textContent = selected;
        select.appendChild(option);
      }
      select.value = selected;
    }
  }

  async function loadTags() {
    const list = document.getElementById("f-tag-list");
    const tags = await fetchJson(config.tags + "?limit=200");
    for (const tag of tags) {
      const option = document.createElement("option");
      option.value = tag.name;
      list.appendChild(option);
    }
  }

  function drawLegend() {
    const legend = document.getElementById("legend");
    const rows = TRANSPORT_COLOURS.map(([, colour, label]) => [colour, label]);
    rows.push([FALLBACK_COLOUR, "Other or none"]);
    for (const [colour, label] of rows) {
      const row = document.createElement("div");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour;
      row.appendChild(swatch);
      row.appendChild(document.createTextNode(label));
      legend.appendChild(row);
    }
  }

  // Map style: a plain background, a graticule, then the service's layers.

  function graticule(step) {
    const features = [];
    for (let lon = -180; lon <= 180; lon += step) {
      features.push({ type: "Feature", properties: {},
        geometry: { type: "LineString", coordinates: [[lon, -85], [lon, 0], [lon, 85]] } });
    }
    for (let lat = -80; lat <= 80; lat += step) {
      const coordinates = [];
      for (let lon = -180; lon <= 180; lon += 10) coordinates.push([lon, lat]);
      features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates } });
    }
    return { type: "FeatureCollection", features };
  }

  /** A north-pointing arrow on a canvas, registered as the image ``photo-arrow``. */
  function addArrowImage(map) {
    const ratio = 2;
    const size = 24 * ratio;
    const canvas = document.createElement("canvas");
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext("2d");
    const c = size / 2;
    ctx.lineJoin = "round";
    ctx.lineWidth = 2 * ratio;
    // White with a dark outline: the colours belong to the transport types of the lines.
    ctx.strokeStyle = "#263238";
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.moveTo(c, 2 * ratio); // tip, pointing north before icon-rotate turns it to ``ca``
    ctx.lineTo(c + 7 * ratio, c + 8 * ratio);
    ctx.lineTo(c, c + 4 * ratio);
    ctx.lineTo(c - 7 * ratio, c + 8 * ratio);
    ctx.closePath();
    ctx.stroke();
    ctx.fill();
    const image = ctx.getImageData(0, 0, size, size);
    map.addImage("photo-arrow", { width: size, height: size, data: image.data },
      { pixelRatio: ratio });
  }

  const DATA_LAYERS = ["overview", "sequences-casing", "sequences", "sequence-selected",
    "photos-no-ca", "photos"];

  // A new filter means a new source: MapLibre's setUrl can miss its reload while the source
  // cache is paused, leaving the old (unfiltered) tiles on screen.
  function replaceSource(map, url) {
    for (const id of DATA_LAYERS) if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource(SOURCE)) map.removeSource(SOURCE);
    addLayers(map, url);
  }

  function addLayers(map, url) {
    map.addSource(SOURCE, { type: "vector", url });
    map.addLayer({
      id: "overview", type: "circle", source: SOURCE, "source-layer": "overview", maxzoom: 6,
      paint: {
        "circle-radius": ["interpolate", ["linear"], ["zoom"], 0, 4, 5, 5.5],
        "circle-color": ["case", ["to-boolean", ["get", "pano"]], "#8e24aa", "#1565c0"],
        "circle-opacity": 0.8,
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 1,
      },
    });
    map.addLayer({
      id: "sequences-casing", type: "line", source: SOURCE, "source-layer": "sequences",
      minzoom: 6,
      layout: { "line-cap": "round", "line-join": "round" },
      paint: {
        "line-color": "#ffffff",
        "line-width": ["interpolate", ["linear"], ["zoom"], 6, 2.5, 14, 6, 18, 10],
        "line-opacity": 0.8,
      },
    });
    map.addLayer({
      id: "sequences", type: "line", source: SOURCE, "source-layer": "sequences", minzoom: 6,
      layout: { "line-cap": "round", "line-join": "round" },
      paint: {
        "line-color": transportColour(),
        "line-width": ["interpolate", ["linear"], ["zoom"], 6, 1.5, 14, 3.5, 18, 6],
      },
    });
    map.addLayer({
      id: "sequence-selected", type: "line", source: SOURCE, "source-layer": "sequences",
      minzoom: 6, filter: ["==", ["get", "id"], ""],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": "#ffd600", "line-width": ["interpolate", ["linear"], ["zoom"], 6, 4, 18, 12],
        "line-opacity": 0.9 },
    }, "sequences");
    map.addLayer({
      id: "photos-no-ca", type: "circle", source: SOURCE, "source-layer": "photos", minzoom: 14,
      filter: ["!", ["has", "ca"]],
      paint: { "circle-radius": 4, "circle-color": "#ffffff", "circle-stroke-color": "#263238",
        "circle-stroke-width": 1.5 },
    });
    map.addLayer({
      id: "photos", type: "symbol", source: SOURCE, "source-layer": "photos", minzoom: 14,
      filter: ["has", "ca"],
      layout: {
        "icon-image": "photo-arrow",
        "icon-rotate": ["get", "ca"],
        "icon-rotation-alignment": "map",
        "icon-allow-overlap": true,
        "icon-ignore-placement": true,
        "icon-size": ["interpolate", ["linear"], ["zoom"], 14, 0.45, 16, 0.7, 18, 1.1],
      },
    });
  }

  // Details popup from the sequence API.

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function formatDate(iso) {
    if (!iso) return "unknown";
    return iso.replace("T", " ").replace(/:\d\d(\.\d+)?(Z|\+00:00)$/, " UTC");
  }

  function detailsNode(feature, photo) {
    const p = feature.properties;
    const root = el("div", { class: "sequence-details", "data-sequence-id": feature.id });
    root.appendChild(el("h2", {}, p.title || "Untitled sequence"));
    if (p.description) root.appendChild(el("p", { class: "description" }, p.description));
    const rows = [
      ["User", p.mapillary_username && p.mapillary_username !== p.username
        ? p.username + " (Mapillary: " + p.mapillary_username + ")" : p.username],
      ["Date", formatDate(p.captured_at)],
      ["Transport", p.transport_type || "not set"],
      ["Tags", p.tags && p.tags.length ? p.tags.join(", ") : "none"],
      ["Photos", p.photo_count],
      ["Likes", p.like_count],
    ];
    if (photo) {
      rows.push(["Photo", "#" + photo.position + (photo.ca !== undefined && photo.ca !== null
        ? ", heading " + Math.round(photo.ca) + "°" : "") + " (" + photo.image_key + ")"]);
    }
    const dl = el("dl");
    for (const [name, value] of rows) {
      dl.appendChild(el("dt", {}, name));
      dl.appendChild(el("dd", { "data-field": name.toLowerCase() }, value));
    }
    root.appendChild(dl);
    const base = config.sequences + encodeURIComponent(feature.id);
    const links = el("p", { class: "links" });
    links.appendChild(el("a", { href: base + "/export.geojson", download: "", class: "export" },
      "Download GeoJSON"));
    links.appendChild(document.createTextNode(" · "));
    links.appendChild(el("a", { href: base, target: "_blank", rel: "noopener" }, "API"));
    root.appendChild(links);
    return root;
  }

  let popup = null;

  async function showSequence(map, id, lngLat, photo) {
    if (popup) popup.remove();
    map.setFilter("sequence-selected", ["==", ["get", "id"], id]);
    popup = new maplibregl.Popup({ maxWidth: "320px" })
      .setLngLat(lngLat)
      .setDOMContent(el("p", { class: "loading" }, "Loading…"))
      .addTo(map);
    const mine = popup;
    mine.on("close", () => {
      if (popup === mine) map.setFilter("sequence-selected", ["==", ["get", "id"], ""]);
    });
    try {
      const feature = await fetchJson(config.sequences + encodeURIComponent(id));
      if (popup === mine) mine.setDOMContent(detailsNode(feature, photo));
    } catch (err) {
      if (popup === mine) mine.setDOMContent(el("p", { class: "error" }, err.message));
    }
  }

  function onClick(map, event) {
    const pad = 5;
    const box = [[event.point.x - pad, event.point.y - pad], [event.point.x + pad, event.point.y + pad]];
    const layers = ["photos", "photos-no-ca", "sequences", "overview"].filter((l) => map.getLayer(l));
    const hits = map.queryRenderedFeatures(box, { layers });
    if (!hits.length) return;
    const hit = hits[0];
    const isPhoto = hit.layer.id.startsWith("photos");
    const id = isPhoto ? hit.properties.sequence_id : hit.properties.id;
    if (id) showSequence(map, String(id), event.lngLat, isPhoto ? hit.properties : null);
  }

  // Start-up.

  async function start() {
    if (typeof maplibregl === "undefined") {
      setStatus("MapLibre GL JS did not load (run bash .ci/build-web).", true);
      return;
    }
    drawLegend();
    const filters = readFilters();
    fillForm(filters);
    const hadView = /^#[\d.]+\/-?[\d.]+\/-?[\d.]+/.test(window.location.hash);
    const map = new maplibregl.Map({
      container: "map",
      hash: true,
      center: [0, 20],
      zoom: 1.2,
      maxZoom: 20,
      attributionControl: false,
      style: {
        version: 8,
        sources: { graticule: { type: "geojson", data: graticule(10) } },
        layers: [
          { id: "background", type: "background", paint: { "background-color": "#eef2f4" } },
          { id: "graticule", type: "line", source: "graticule",
            paint: { "line-color": "#c9d3d9", "line-width": 0.6 } },
        ],
      },
    });
    window.geoapiMap = map;
    map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
    map.on("error", (event) => {
      const message = event && event.error && event.error.message;
      if (message) setStatus(message, true);
    });

    loadTransportTypes(filters.transport_type).catch((err) => setStatus(err.message, true));
    loadTags().catch(() => undefined);

    let tilejson = null;
    try {
      tilejson = await fetchJson(tileJsonUrl(filters));
    } catch (err) {
      setStatus("Tiles unavailable: " + err.message, true);
    }
    const url = tileJsonUrl(filters);
    const onStyle = () => {
      addArrowImage(map);
      addLayers(map, url);
      if (!hadView && tilejson && Array.isArray(tilejson.bounds)) {
        const [w, s, e, n] = tilejson.bounds;
        // Keep the data clear of the filter panel on the left when there is room.
        const left = window.innerWidth > 700 ? 290 : 40;
        const padding = { top: 40, bottom: 40, left, right: 60 };
        if (e > w && n > s) map.fitBounds([[w, s], [e, n]], { padding, animate: false, maxZoom: 14 });
      }
      map.once("idle", () => {
        document.body.dataset.state = "ready";
        if (!statusEl.classList.contains("error")) setStatus("");
      });
    };
    if (map.isStyleLoaded()) onStyle(); else map.once("load", onStyle);
    map.on("click", (event) => onClick(map, event));
    for (const layer of ["sequences", "overview", "photos", "photos-no-ca"]) {
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const next = formFilters();
      const nextUrl = tileJsonUrl(next);
      try {
        await fetchJson(nextUrl); // a bad filter shows the service's problem detail
      } catch (err) {
        setStatus(err.message, true);
        return;
      }
      setStatus("");
      writeFiltersToUrl(next);
      if (popup) popup.remove();
      replaceSource(map, nextUrl);
    });
    form.addEventListener("reset", () => {
      window.setTimeout(() => form.dispatchEvent(new Event("submit", { cancelable: true })), 0);
    });

    window.geoapiViewer = {
      map,
      showSequence: (id, lngLat) => showSequence(map, id, lngLat, null),
      tileJsonUrl: () => map.getSource(SOURCE) && map.getSource(SOURCE).url,
    };
  }

  start();
})();
