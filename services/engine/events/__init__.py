"""Events: what happened on this node (a container started, an image was tagged), as Docker
reports them on ``GET /events``."""
