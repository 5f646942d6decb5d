"""Distances on the earth's surface, travel estimates and map hand-off links.

Coordinates are GCJ-02 (what Amap and the phones' Chinese map SDKs report); at city scale the
haversine distance is accurate to well under a percent, which is all dispatch and geofences need.
"""

from __future__ import annotations

import math
from urllib.parse import quote

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def travel_minutes(km: float, speed_kmh: float) -> int:
    """Road distance is about 1.3 x the straight line in a city grid."""
    return max(1, math.ceil(km * 1.3 / speed_kmh * 60))


def navigation_links(lat: float, lng: float, name: str) -> dict[str, str]:
    """Deep links that open turn-by-turn navigation to (lat, lng) in Amap or Baidu Maps, plus
    their web fallbacks for a phone without the app."""
    label = quote(name or "destination", safe="")
    return {
        "amap": f"amapuri://route/plan/?dlat={lat:.6f}&dlon={lng:.6f}&dname={label}&dev=0&t=0",
        "amap_web": f"https://uri.amap.com/navigation?to={lng:.6f},{lat:.6f},{label}&mode=car&coordinate=gaode",
        "baidu": (
            f"baidumap://map/direction?destination=latlng:{lat:.6f},{lng:.6f}|name:{label}"
            "&coord_type=gcj02&mode=driving&src=homeservices.hub"
        ),
        "baidu_web": (
            f"https://api.map.baidu.com/direction?destination=latlng:{lat:.6f},{lng:.6f}|name:{label}"
            "&coord_type=gcj02&mode=driving&output=html&src=homeservices.hub"
        ),
    }
