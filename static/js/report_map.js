// /report/: pick the place on a map. A progressive enhancement: without JavaScript or without
// Leaflet the latitude and longitude fields beside it do the same job, and the address search
// works on the server either way.
const box = document.getElementById("report-map");
const details = document.getElementById("map-pick");
const lat = document.getElementById("f-lat");
const lon = document.getElementById("f-lon");
let map = null;
let pin = null;

function place(latlng) {
  lat.value = latlng.lat.toFixed(6);
  lon.value = latlng.lng.toFixed(6);
  if (pin) pin.setLatLng(latlng);
  else pin = window.L.marker(latlng, { keyboard: false }).addTo(map);
}

function start() {
  if (map || !window.L || !box) return;
  box.hidden = false;
  const b = JSON.parse(box.dataset.area);
  map = window.L.map(box).fitBounds([[b.min_lat, b.min_lon], [b.max_lat, b.max_lon]]);
  if (box.dataset.tiles) {
    window.L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution || "" }).addTo(map);
  }
  map.on("click", (e) => place(e.latlng));
  if (lat.value && lon.value) place(window.L.latLng(Number(lat.value), Number(lon.value)));
}

if (details) details.addEventListener("toggle", () => { if (details.open) start(); });
