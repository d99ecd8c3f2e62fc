/**
 * A small client of Orthanc's REST API (the endpoints `ichdet watch` uses, Node's global fetch):
 * the change feed (`/changes?since=N&limit=M`), a study's series and their instances, an
 * instance's file and tags, and storing an instance (POST `/instances`). A PACS that cannot be
 * reached, or answers 5xx, raises `PacsUnavailable` (the caller waits and retries); any other
 * unexpected answer raises `PacsError` with the method, URL and status.
 */
import { randomUUID } from 'node:crypto';
import { IchdetError } from '../errors.js';

/** The PACS did not answer (refused, reset, timed out) or answered 5xx: retry later. */
export class PacsUnavailable extends IchdetError {
  override name = 'PacsUnavailable';
}

/** The PACS answered, but not as expected (4xx, or a body of the wrong shape). */
export class PacsError extends IchdetError {
  override name = 'PacsError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export interface OrthancChange {
  ChangeType: string;
  ID: string;
  ResourceType: string;
  Seq: number;
  Date?: string;
}

export interface OrthancChanges {
  Changes: OrthancChange[];
  Done: boolean;
  Last: number;
}

export interface OrthancStudy {
  ID: string;
  MainDicomTags: Record<string, string>;
  PatientMainDicomTags?: Record<string, string>;
  Series: string[];
}

export interface OrthancSeries {
  ID: string;
  MainDicomTags: Record<string, string>;
  Instances: string[];
  ParentStudy: string;
}

/** Result of storing one instance. */
export interface StoreResult {
  /** Orthanc's id of the instance (null for a DICOMweb target). */
  id: string | null;
  /** `Success`, `AlreadyStored` (Orthanc), or `Stored` (DICOMweb). */
  status: string;
}

/** Where results go: Orthanc's REST API, or a DICOMweb STOW-RS endpoint. */
export interface ResultTarget {
  readonly url: string;
  store(bytes: Uint8Array): Promise<StoreResult>;
}

export interface HttpOptions {
  /** Per-request timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** `Authorization` header value, when the PACS needs one. */
  authorization?: string;
}

async function request(
  method: string,
  url: string,
  o: HttpOptions,
  init: { body?: Uint8Array; headers?: Record<string, string> } = {},
): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        ...init.headers,
        ...(o.authorization !== undefined && { Authorization: o.authorization }),
      },
      // A Uint8Array over an ArrayBuffer is a BodyInit in both the DOM and the undici typings.
      ...(init.body !== undefined && { body: init.body as Uint8Array<ArrayBuffer> }),
      signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new PacsUnavailable(
      `${method} ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  if (res.status >= 500) {
    const text = await res.text().catch(() => '');
    throw new PacsUnavailable(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    throw new PacsError(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status);
  }
  return res;
}

export class OrthancClient implements ResultTarget {
  readonly url: string;

  /** `url`: Orthanc's REST root, e.g. `http://127.0.0.1:8042`. */
  constructor(
    url: string,
    private readonly o: HttpOptions = {},
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  private async json<T>(path: string): Promise<T> {
    const res = await request('GET', `${this.url}${path}`, this.o);
    try {
      return (await res.json()) as T;
    } catch (err) {
      throw new PacsError(`GET ${this.url}${path}: not JSON (${(err as Error).message})`, null);
    }
  }

  /** GET /system (Orthanc's name and version): the health check. */
  system(): Promise<{ Version: string; Name?: string }> {
    return this.json('/system');
  }

  /** Up to `limit` changes after sequence number `since`. */
  changes(since: number, limit = 100): Promise<OrthancChanges> {
    return this.json(`/changes?since=${since}&limit=${limit}`);
  }

  /** The last change's sequence number now (to start following from the present). */
  async lastChange(): Promise<number> {
    return (await this.json<OrthancChanges>('/changes?last')).Last;
  }

  study(id: string): Promise<OrthancStudy> {
    return this.json(`/studies/${encodeURIComponent(id)}`);
  }

  studySeries(id: string): Promise<OrthancSeries[]> {
    return this.json(`/studies/${encodeURIComponent(id)}/series`);
  }

  series(id: string): Promise<OrthancSeries> {
    return this.json(`/series/${encodeURIComponent(id)}`);
  }

  /** An instance's tags as keyword → string (`simplified-tags`: multi-valued joined by `\`). */
  instanceTags(id: string): Promise<Record<string, unknown>> {
    return this.json(`/instances/${encodeURIComponent(id)}/simplified-tags`);
  }

  /** The instance's DICOM file. */
  async instanceFile(id: string): Promise<Uint8Array> {
    const res = await request(
      'GET',
      `${this.url}/instances/${encodeURIComponent(id)}/file`,
      this.o,
    );
    return new Uint8Array(await res.arrayBuffer());
  }

  /** All studies' ids (for `--all`). */
  studies(): Promise<string[]> {
    return this.json('/studies');
  }

  /** POST /instances: stores a DICOM file. */
  async store(bytes: Uint8Array): Promise<StoreResult> {
    const res = await request('POST', `${this.url}/instances`, this.o, {
      body: bytes,
      headers: { 'Content-Type': 'application/dicom' },
    });
    const r = (await res.json()) as { ID?: string; Status?: string };
    return { id: r.ID ?? null, status: r.Status ?? 'Success' };
  }
}

/**
 * A DICOMweb STOW-RS target (PS3.18 §10.5): POST `url` (e.g. `…/dicom-web/studies`) with one
 * `multipart/related; type="application/dicom"` part per instance.
 */
export class StowTarget implements ResultTarget {
  readonly url: string;

  constructor(
    url: string,
    private readonly o: HttpOptions = {},
  ) {
    this.url = url.replace(/\/+$/, '');
  }

  async store(bytes: Uint8Array): Promise<StoreResult> {
    const boundary = `ichdet-${randomUUID()}`;
    const head = new TextEncoder().encode(
      `--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${bytes.length}\r\n\r\n`,
    );
    const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
    const body = new Uint8Array(head.length + bytes.length + tail.length);
    body.set(head, 0);
    body.set(bytes, head.length);
    body.set(tail, head.length + bytes.length);
    await request('POST', this.url, this.o, {
      body,
      headers: {
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: 'application/dicom+json',
      },
    });
    return { id: null, status: 'Stored' };
  }
}
