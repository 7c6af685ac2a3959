// Builds the bundled basemap from the pinned npm package world-atlas (Natural Earth 4.1.0 as
// TopoJSON): for each scale (1:110m, 1:50m) one GeoJSON FeatureCollection holding the land
// polygons (kind "land", from land-*.json), the borders between countries (kind "border", the
// arcs countries-*.json shares between two countries) and one label point per country (kind
// "country", with its name and the area of its largest part in square degrees, at that part's
// pole of inaccessibility, found by polylabel). Coordinates are lon/lat (SRID 4326)
// rounded to 4 decimals (11 m, finer than the quantized source). Deterministic output.
// world-atlas is spherical (d3-geo): a ring crossing the antimeridian jumps from +180 to -180.
// Planar renderers would draw that jump across the world, so each ring and line is unwrapped
// (longitudes continued beyond +-180, which MapLibre's GeoJSON tiler wraps onto the other side)
// and a ring around a pole (Antarctica) is closed along that pole.
// Usage: node .ci/basemap.js OUT_DIR
"use strict";

const fs = require("fs");
const path = require("path");
const topojson = require("topojson-client");

const ATLAS = path.join(__dirname, "..", "node_modules", "world-atlas");
const SCALES = ["110m", "50m"];
const DECIMALS = 4;

function read(name) {
  return JSON.parse(fs.readFileSync(path.join(ATLAS, name), "utf8"));
}

function rounded(value) {
  if (typeof value === "number") return Math.round(value * 10 ** DECIMALS) / 10 ** DECIMALS;
  return value.map(rounded);
}

/** The positions with every jump of more than 180 degrees of longitude undone, then moved by
 * a whole turn where that puts their middle back within +-180. */
function unwrapped(positions) {
  let shift = 0;
  const out = positions.map(([lon, lat], index) => {
    if (index > 0) {
      const previous = positions[index - 1][0];
      if (lon - previous > 180) shift -= 360;
      else if (previous - lon > 180) shift += 360;
    }
    return [lon + shift, lat];
  });
  const lons = out.map(([lon]) => lon);
  const middle = (Math.min(...lons) + Math.max(...lons)) / 2;
  const turn = middle < -180 ? 360 : middle > 180 ? -360 : 0;
  return turn ? out.map(([lon, lat]) => [lon + turn, lat]) : out;
}

/** A ring unwrapped; one that went once around a pole is closed along it. */
function ring(positions) {
  const out = unwrapped(positions);
  const first = out[0];
  const last = out[out.length - 1];
  if (Math.abs(last[0] - first[0]) < 180) return out;
  const pole = first[1] + last[1] < 0 ? -90 : 90;
  return [...out, [last[0], pole], [first[0], pole], first];
}

function unwrap(type, coordinates) {
  if (type === "Polygon") return coordinates.map(ring);
  if (type === "LineString") return unwrapped(coordinates);
  throw new Error("unexpected geometry " + type);
}

// One feature per polygon or line, so that a tile cuts only the parts near it.
function features(geometry, kind) {
  const single = { MultiPolygon: "Polygon", MultiLineString: "LineString" }[geometry.type];
  const parts = single ? geometry.coordinates : [geometry.coordinates];
  return parts.map((coordinates) => ({ type: "Feature", properties: { kind },
    geometry: { type: single || geometry.type,
      coordinates: rounded(unwrap(single || geometry.type, coordinates)) } }));
}

/** Twice the signed planar area of a ring, in square degrees. */
function ringArea(positions) {
  let sum = 0;
  for (let i = 0; i + 1 < positions.length; i++) {
    sum += positions[i][0] * positions[i + 1][1] - positions[i + 1][0] * positions[i][1];
  }
  return sum / 2;
}

/** A label point in the largest polygon of each named country. */
function countryLabels(countries, polylabel) {
  const out = [];
  for (const country of topojson.feature(countries, countries.objects.countries).features) {
    const name = country.properties && country.properties.name;
    if (!name || !country.geometry) continue;
    const polygons = country.geometry.type === "Polygon"
      ? [country.geometry.coordinates] : country.geometry.coordinates;
    const rings = polygons.map((polygon) => polygon.map(ring));
    const areas = rings.map((polygon) => Math.abs(ringArea(polygon[0])));
    const largest = areas.indexOf(Math.max(...areas));
    const [lon, lat] = polylabel(rings[largest], 0.01);
    const wrapped = lon > 180 ? lon - 360 : lon < -180 ? lon + 360 : lon;
    out.push({ type: "Feature",
      properties: { kind: "country", name, area: Math.round(areas[largest] * 100) / 100 },
      geometry: { type: "Point", coordinates: rounded([wrapped, lat]) } });
  }
  // Largest first: the order a renderer places labels in when they collide.
  return out.sort((a, b) => b.properties.area - a.properties.area
    || a.properties.name.localeCompare(b.properties.name));
}

function build(scale, polylabel) {
  const land = read(`land-${scale}.json`);
  const countries = read(`countries-${scale}.json`);
  const all = [];
  for (const feature of topojson.feature(land, land.objects.land).features) {
    all.push(...features(feature.geometry, "land"));
  }
  const borders = topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b);
  all.push(...features(borders, "border"));
  all.push(...countryLabels(countries, polylabel));
  return { type: "FeatureCollection", features: all };
}

async function main(out) {
  const polylabel = (await import("polylabel")).default; // an ES module
  fs.mkdirSync(out, { recursive: true });
  for (const scale of SCALES) {
    const target = path.join(out, `ne-${scale}.geojson`);
    fs.writeFileSync(target, JSON.stringify(build(scale, polylabel)) + "\n");
    console.log(`basemap: ${target}`);
  }
  fs.copyFileSync(path.join(ATLAS, "LICENSE"), path.join(out, "world-atlas.LICENSE.txt"));
}

if (!process.argv[2]) {
  console.error("usage: node .ci/basemap.js OUT_DIR");
  process.exit(2);
}
main(process.argv[2]).catch((err) => {
  console.error(err);
  process.exit(1);
});
