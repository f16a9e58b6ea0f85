// REST calls to the page's own service (the bed's docs/api.md, the central's docs/central.md).
// Same origin only: the session cookie is HttpOnly and SameSite=Strict, so the browser sends it
// by itself and the page never sees it. Shared by the tablet (web/js) and the central's overview
// (web/central/js).

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

// What a page says when its service cannot be reached at all (each page names its service).
let unreachable = "the service cannot be reached";

/** Set once by each page: e.g. "the Vigil unit cannot be reached". */
export function setUnreachableText(text) {
  unreachable = text;
}

/** The API's own words for an error: FastAPI's {"detail": "..."} or a 422 list of fields. */
function detailOf(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `request failed (HTTP ${status})`;
}

/**
 * `api("POST", "/api/v1/audio/pause", {seconds: 60})` → parsed JSON.
 * Throws ApiError(status, detail) for an HTTP error, and ApiError(0, ...) when the service
 * cannot be reached at all (so callers can tell "refused" from "unreachable").
 */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, unreachable);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, detailOf(data, response.status));
  return data;
}
