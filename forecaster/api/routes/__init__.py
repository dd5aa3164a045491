"""One APIRouter per resource: targets and forecasts, ad-hoc forecasts, health, metrics, the page."""
