"""HTTP routes, one module per resource; each module exports an `APIRouter` named `router`."""
