"""Append-only, hash-chained audit trail of every action that moves money or changes a limit."""

from core.audit.models import AuditAction, AuditEntry
from core.audit.trail import AuditVerification, append_audit, list_audit, verify_audit_chain

__all__ = ["AuditAction", "AuditEntry", "AuditVerification", "append_audit", "list_audit", "verify_audit_chain"]
