"""Settings tab: AI analysts (providers and keys, weights, thresholds, quorum, budgets)."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from core.ai.config import (
    EDITABLE_PROVIDER_FIELDS,
    SECRET_AZURE_KEY,
    SECRET_DEEPSEEK_KEY,
    remove_openai_compatible_endpoint,
    save_consensus_parameters,
    save_openai_compatible_endpoint,
    save_provider_fields,
    settings_overview,
    store_api_key,
)
from core.db.engine import Database

TITLE = "AI analysts"
ORDER = 30

FIELD_LABELS = {
    "azure_openai_endpoint": "Azure OpenAI endpoint (https://NAME.openai.azure.com)",
    "azure_openai_deployment": "Azure OpenAI deployment",
    "azure_openai_api_version": "Azure OpenAI API version",
    "deepseek_base_url": "DeepSeek base URL",
    "deepseek_model": "DeepSeek model",
    "ollama_host": "Ollama host (http://localhost:11434)",
    "ollama_model": "Ollama model",
}


def render(database: Database) -> None:
    """Draw the AI settings tab."""
    overview = database.run(settings_overview)
    config = overview.config

    st.markdown("#### Analysts")
    st.dataframe(
        [
            {"Analyst": provider.name, "Kind": provider.kind.value, "Enabled": provider.enabled, "Why": provider.reason}
            for provider in config.providers
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "An LLM analyst is enabled once its settings are complete. Values entered here win over environment "
        "variables (`KONSENS_AZURE_OPENAI_*`, `KONSENS_DEEPSEEK_*`, `KONSENS_OLLAMA_*`), which apply to blank fields."
    )

    with st.form("ai_providers"):
        st.markdown("#### Providers")
        values: dict[str, str] = {}
        for name in EDITABLE_PROVIDER_FIELDS:
            default = overview.environment_defaults.get(name)
            values[name] = st.text_input(
                FIELD_LABELS[name],
                value=overview.page_fields.get(name, ""),
                placeholder=f"blank: {default} (from the environment)" if default else None,
                key=f"ai_field_{name}",
            )
        azure_key = st.text_input(
            f"Azure OpenAI API key ({overview.key_hints.get(SECRET_AZURE_KEY, 'not stored')})",
            type="password",
            key="ai_azure_key",
        )
        deepseek_key = st.text_input(
            f"DeepSeek API key ({overview.key_hints.get(SECRET_DEEPSEEK_KEY, 'not stored')})",
            type="password",
            key="ai_deepseek_key",
        )
        if st.form_submit_button("Save providers"):
            with database.session() as session:
                save_provider_fields(session, values)
                if azure_key:
                    store_api_key(session, SECRET_AZURE_KEY, azure_key)
                if deepseek_key:
                    store_api_key(session, SECRET_DEEPSEEK_KEY, deepseek_key)
            st.success("Providers saved; keys are stored encrypted. The analyst worker uses them from its next pass.")

    with st.form("ai_consensus"):
        st.markdown("#### Consensus")
        parameters = config.parameters
        columns = st.columns(4)
        quorum = columns[0].number_input("Quorum (valid opinions)", min_value=1, max_value=20, value=parameters.quorum)
        agreement = columns[1].slider("Agreement threshold", 0.0, 1.0, float(parameters.agreement_threshold), 0.05)
        decision = columns[2].slider(
            "Decision threshold (|score|)", 0.0, 1.0, float(parameters.decision_threshold), 0.05
        )
        budget = columns[3].number_input("Daily calls per provider", min_value=0, value=config.limits.daily_call_budget)
        schedule_column, daily_column, monthly_column = st.columns(3)
        schedule = schedule_column.number_input(
            "Minutes between scheduled runs", min_value=1.0, value=float(config.schedule_minutes)
        )
        daily_cap = daily_column.number_input(
            "Cost cap per provider per day (€)",
            min_value=0.0,
            step=0.5,
            value=float(config.costs.daily_cap_eur),
            help="Hard cap: a call that could pass it is not made, the analyst is skipped with the reason and "
            "one alert is raised.",
        )
        monthly_cap = monthly_column.number_input(
            "Cost cap per provider per month (€)", min_value=0.0, step=1.0, value=float(config.costs.monthly_cap_eur)
        )
        st.markdown("Weights (multiplied with confidence and tracked reliability)")
        weight_columns = st.columns(4)
        weights = {
            provider.name: weight_columns[index % 4].number_input(
                provider.name,
                min_value=0.0,
                max_value=10.0,
                step=0.1,
                value=parameters.weight_of(provider.name),
                key=f"ai_weight_{provider.name}",
            )
            for index, provider in enumerate(config.providers)
        }
        disabled = st.multiselect(
            "Switched off", [provider.name for provider in config.providers], default=overview.disabled_analysts
        )
        if st.form_submit_button("Save consensus settings"):
            try:
                with database.session() as session:
                    save_consensus_parameters(
                        session,
                        quorum=int(quorum),
                        agreement_threshold=float(agreement),
                        decision_threshold=float(decision),
                        weights=weights,
                        disabled_analysts=disabled,
                        daily_call_budget=int(budget),
                        schedule_minutes=float(schedule),
                        daily_cost_cap_eur=Decimal(str(daily_cap)),
                        monthly_cost_cap_eur=Decimal(str(monthly_cap)),
                    )
                st.success("Consensus settings saved.")
            except ValueError as error:
                st.error(str(error))

    st.markdown("#### Other OpenAI-compatible endpoints")
    for endpoint in overview.page_endpoints:
        row = st.columns([4, 1])
        row[0].write(f"**{endpoint['name']}** — `{endpoint['model']}` at {endpoint['base_url']}")
        if row[1].button("Remove", key=f"ai_remove_{endpoint['name']}"):
            with database.session() as session:
                remove_openai_compatible_endpoint(session, endpoint["name"])
            st.rerun()
    with st.form("ai_endpoint", clear_on_submit=True):
        columns = st.columns(4)
        name = columns[0].text_input("Name (a-z, 0-9, - _)")
        base_url = columns[1].text_input("Base URL (…/v1)")
        model = columns[2].text_input("Model")
        key = columns[3].text_input("API key (optional)", type="password")
        if st.form_submit_button("Add endpoint"):
            try:
                with database.session() as session:
                    save_openai_compatible_endpoint(session, name.strip(), base_url, model, key or None)
                st.success(f"Endpoint {name} added.")
            except ValueError as error:
                st.error(str(error).splitlines()[0])
