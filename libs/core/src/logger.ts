import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Patient data is never logged: log object ids, sha256 and codes, never object
 * keys (uploads are often named after patients), DICOM values or file names. The redact list is a
 * second line of defence for fields that might slip through.
 */
export function createLogger(level = 'info', bindings: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'endpoint-service', ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['key', '*.key', 'objectKey', '*.objectKey', 'patientName', '*.patientName', 'patientId', '*.patientId', 'filename', '*.filename', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
