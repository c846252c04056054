"""Images from Dockerfiles: the parser, the build context, the step executor and its cache."""
