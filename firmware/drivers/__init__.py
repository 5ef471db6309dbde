# Thin hardware drivers over machine / aioble. Each class is one small piece of
# the Hardware interface in docs/architecture.md.
