"""Which total score makes a contact an MQL: the one threshold outcome reports and backtests count crossings of."""

from __future__ import annotations

from threadline.rules.scoring.config import ScoringSettings

#: The HubSpot lifecycle stage a stage rule names when it marks MQLs.
MQL_STAGE = "marketingqualifiedlead"


def mql_threshold(settings: ScoringSettings) -> int | None:
    """The total score at which a contact counts as an MQL: the ``min`` of ``mql_tier`` when set, else of a tier
    named "mql" (any case), else the ``at_least`` of the stage rule moving contacts to marketingqualifiedlead;
    None when the rules name no MQL (reports then say so instead of showing a conversion)."""
    tiers = {tier.name.casefold(): tier.min for tier in settings.tiers}
    if settings.mql_tier is not None:
        return tiers.get(settings.mql_tier.casefold())
    if "mql" in tiers:
        return tiers["mql"]
    return next((stage.at_least for stage in settings.stages if stage.value.casefold() == MQL_STAGE), None)


def mql_problems(settings: ScoringSettings, path: str) -> list[str]:
    """A named ``mql_tier`` must be one of the tiers."""
    if settings.mql_tier is None or any(t.name.casefold() == settings.mql_tier.casefold() for t in settings.tiers):
        return []
    names = ", ".join(tier.name for tier in settings.tiers) or "none defined"
    return [f"{path}.mql_tier: unknown tier '{settings.mql_tier}' (tiers: {names})"]
