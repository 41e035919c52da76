// The JSON API (docs/API.md): GET only, errors as RFC 9457 problem+json.
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.title || `HTTP ${status}`);
    this.title = problem.title || `HTTP ${status}`;
    this.detail = typeof problem.detail === 'string' ? problem.detail : '';
    this.status = problem.status || status || 0;
    this.type = problem.type || '';
  }
}

/** GET /api/v1{path}?params and return the parsed JSON; throws ApiError.
 * Array values repeat the parameter; empty values are left out. */
export async function get(path, params = {}) {
  const url = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(params)) {
    for (const x of [].concat(v)) if (x !== '' && x != null) url.searchParams.append(k, x);
  }
  let r;
  try {
    r = await fetch(url, { headers: { Accept: 'application/json, application/problem+json' } });
  } catch (e) {
    throw new ApiError({ title: t('error.network'), detail: String(e.message || '') }, 0);
  }
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new ApiError(body && typeof body === 'object' ? body : {}, r.status);
  if (body == null) throw new ApiError({ title: t('error.badResponse') }, r.status);
  return body;
}
