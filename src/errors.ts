/**
 * Typed errors. Every message names the field or file, the value received and what was expected,
 * in the manner of Keras' `ValueError`: `window width must be > 0, received -40`.
 */

/** Base class of every error ichdet raises on purpose. The CLI prints `message` on one line. */
export class IchdetError extends Error {
  override name = 'IchdetError';
}

/** A bad option or argument, detected when a thing is built, before any work starts. */
export class ConfigError extends IchdetError {
  override name = 'ConfigError';
}

/** A file that is not readable DICOM, or whose contents contradict themselves. */
export class DicomError extends IchdetError {
  override name = 'DicomError';
  constructor(
    /** The file (or `<buffer>`) the problem was found in. */
    readonly file: string,
    /** What is wrong, without the file name. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/** A readable DICOM object that is not a single-frame grayscale image (colour, multi-frame, SR…). */
export class NotACtSliceError extends DicomError {
  override name = 'NotACtSliceError';
  constructor(file: string, detail: string) {
    super(file, `not a CT slice: ${detail}`);
  }
}

/** A transfer syntax ichdet cannot decode; the message names the UID and its name when known. */
export class UnsupportedTransferSyntaxError extends DicomError {
  override name = 'UnsupportedTransferSyntaxError';
  constructor(
    file: string,
    readonly uid: string,
    syntaxName: string | undefined,
  ) {
    super(
      file,
      `unsupported transfer syntax ${uid}${syntaxName ? ` (${syntaxName})` : ''}; ` +
        'supported: implicit/explicit VR little endian, explicit VR big endian, deflated, RLE, ' +
        'JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, HTJ2K',
    );
  }
}

/** A malformed input file other than DICOM (CSV, NPY, JSON…); names the file, row and field. */
export class InputError extends IchdetError {
  override name = 'InputError';
}

/**
 * Work stopped on request (an AbortSignal: SIGTERM or Ctrl-C in the CLI, a service shutting
 * down) after it made its state durable, so the same command resumes it.
 */
export class Interrupted extends IchdetError {
  override name = 'Interrupted';
}

/** Throws `Interrupted` when `signal` has been aborted: `what` says what stopped and how to resume. */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted !== true) return;
  const reason = signal.reason;
  const why =
    typeof reason === 'string' ? reason : reason instanceof Error ? reason.message : 'aborted';
  throw new Interrupted(`${what} (${why})`);
}
