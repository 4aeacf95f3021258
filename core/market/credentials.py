"""API keys of the market-data sources, kept encrypted in the secret store and shown masked only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.market.sources.registry import COINGECKO_KEY_SECRET, ccxt_key_secret, ccxt_secret_secret
from core.security.secrets import SecretStore


@dataclass(frozen=True)
class CredentialField:
    """One secret a market source can use."""

    name: str
    label: str


def credential_fields(exchange_id: str) -> list[CredentialField]:
    """Return the secrets the market area knows for a ccxt exchange and CoinGecko."""
    return [
        CredentialField(COINGECKO_KEY_SECRET, "CoinGecko demo API key"),
        CredentialField(ccxt_key_secret(exchange_id), f"{exchange_id} API key (ccxt)"),
        CredentialField(ccxt_secret_secret(exchange_id), f"{exchange_id} API secret (ccxt)"),
    ]


def masked_credentials(session: Session, exchange_id: str) -> dict[str, str | None]:
    """Return each market secret's masked form (None: not stored), never the value."""
    stored = SecretStore().masked(session)
    return {field.name: stored.get(field.name) for field in credential_fields(exchange_id)}


def _checked_name(name: str, exchange_id: str) -> str:
    if name not in {field.name for field in credential_fields(exchange_id)}:
        raise ValueError(f"{name} is not a market-data secret")
    return name


def save_credential(session: Session, exchange_id: str, name: str, value: str) -> None:
    """Store a market secret encrypted (surrounding whitespace removed)."""
    cleaned = value.strip()
    if not cleaned:
        raise ValueError("enter a value, or delete the stored key instead")
    SecretStore().set(session, _checked_name(name, exchange_id), cleaned)


def delete_credential(session: Session, exchange_id: str, name: str) -> bool:
    """Delete a market secret; return whether one was stored."""
    return SecretStore().delete(session, _checked_name(name, exchange_id))
