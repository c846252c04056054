"""Image references as the CLI splits them: its own module so that commands that only name
images (images, tag, push) need not import the container commands."""

from __future__ import annotations


def split_tag(image: str) -> tuple[str, str]:
    """``repo[:tag]`` or ``repo@digest`` → (repo, tag or digest); the tag defaults to latest."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    head, _, last = image.rpartition("/")
    if ":" in last:
        repo, _, tag = last.partition(":")
        return (f"{head}/{repo}" if head else repo), tag
    return image, "latest"
