"""Methods, each registered by name. Importing this package registers the built-in ones."""

from hicropl.methods.base import (
    ClassSet,
    MethodConfig,
    MethodOutput,
    MethodRuntime,
    PromptMethod,
    build_method,
    get_method_class,
    list_methods,
    register_method,
)

__all__ = [
    "ClassSet",
    "MethodConfig",
    "MethodOutput",
    "MethodRuntime",
    "PromptMethod",
    "build_method",
    "get_method_class",
    "list_methods",
    "register_method",
]

from hicropl.methods import (  # noqa: F401  (importing registers them)
    cocoop,
    coop,
    coprompt,
    hicropl,
    ivlp,
    kgcoop,
    linear_probe,
    maple,
    mma,
    promptsrc,
    tcp,
    zeroshot,
)
