// Where the worker is, drawn as a plot of two points (the worker and the address) on a grid of
// 500 m squares: no map tiles, nothing fetched. North is up; east-west distances are scaled by the
// latitude so that the plot is not stretched.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 320;
const HEIGHT = 220;
const PAD = 28;
const KM_PER_DEGREE = 111.32;

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** An empty map, `<svg id="order-map" class="map">` (an SVG element, which h() cannot make). */
export function mapElement(id, label) {
  return el("svg", { id, class: "map", role: "img", "aria-label": label, viewBox: `0 0 ${WIDTH} ${HEIGHT}` });
}

/** Distance in metres between two points (haversine). */
export function metres(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return Math.round(6_371_000 * 2 * Math.asin(Math.sqrt(x)));
}

/**
 * Draw `address` and, when known, `worker` ({lat, lng}) into the <svg> `svg` (`#order-map`).
 * `labels` are the texts next to them.
 */
export function plot(svg, address, worker, labels = { address: "", worker: "" }) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  const points = worker ? [address, worker] : [address];
  const midLat = points.reduce((sum, p) => sum + p.lat, 0) / points.length;
  const kmX = KM_PER_DEGREE * Math.cos((midLat * Math.PI) / 180);
  const xs = points.map((p) => p.lng * kmX);
  const ys = points.map((p) => p.lat * KM_PER_DEGREE);
  const spanKm = Math.max(1, Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
  const scale = Math.min(WIDTH - 2 * PAD, HEIGHT - 2 * PAD) / spanKm; // pixels per km
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2;
  const cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  const at = (p) => [WIDTH / 2 + (p.lng * kmX - cx) * scale, HEIGHT / 2 - (p.lat * KM_PER_DEGREE - cy) * scale];

  const step = 0.5 * scale; // a grid line every 500 m
  if (step >= 8) {
    for (let x = (WIDTH / 2) % step; x < WIDTH; x += step) svg.append(el("line", { x1: x, y1: 0, x2: x, y2: HEIGHT, class: "grid" }));
    for (let y = (HEIGHT / 2) % step; y < HEIGHT; y += step) svg.append(el("line", { x1: 0, y1: y, x2: WIDTH, y2: y, class: "grid" }));
  }
  const [ax, ay] = at(address);
  if (worker) {
    const [wx, wy] = at(worker);
    svg.append(el("line", { x1: wx, y1: wy, x2: ax, y2: ay, class: "route" }));
    svg.append(el("circle", { cx: wx, cy: wy, r: 8, class: "worker", "data-lat": worker.lat, "data-lng": worker.lng }));
    svg.append(el("text", { x: wx + 11, y: wy + 4 }, labels.worker));
  }
  svg.append(el("circle", { cx: ax, cy: ay, r: 7, class: "address", "data-lat": address.lat, "data-lng": address.lng }));
  svg.append(el("text", { x: ax + 10, y: ay + 4 }, labels.address));
  svg.append(el("text", { x: 6, y: HEIGHT - 6, class: "scale" }, "▦ 500 m   N↑"));
}
