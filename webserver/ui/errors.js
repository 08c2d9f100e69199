// The API's errors as the UI handles them: its own module, so that the API client and the DOM
// helpers can both use it without importing each other.

/** An API error: the HTTP status, the API's {error, message, fields} body, and the seconds
 * of a Retry-After (0 if the answer had none). */
export class ApiError extends Error {
  constructor(status, code, message, fields, requestId, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields || null;
    this.requestId = requestId || "";
    this.retryAfter = retryAfter || 0;
  }
}
