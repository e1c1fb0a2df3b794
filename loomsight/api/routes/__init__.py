"""One APIRouter per resource; `loomsight.api.app.create_app` includes them."""
