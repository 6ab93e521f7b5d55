/**
 * Kept for imports not yet moved: the AD FS event ids live in audit.ts with the typed audit functions and the
 * AUDIT_EVENTS catalogue (one source of the ids).
 */
export { AuditEventIds, type AuditEventId } from './audit.ts';
