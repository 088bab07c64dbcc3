from django import template

from generations.services.brief import image_checkpoints

register = template.Library()


@register.filter(name="image_checkpoints")
def image_checkpoints_filter(catalog) -> list[str]:
    """Checkpoints that can draw the picture (video models only animate it), for the brief card's select."""
    if catalog is None:
        return []
    return image_checkpoints(catalog) or list(catalog.checkpoints)
