"""{{type}}: copies its input artifacts to its output artifact, writes greeting.txt
holding `Hello, <Name>`, and sets the output variable Greeting to the same text."""

import os

# Runner is the export componentize-py looks for in this module.
from sandpipe_action import Outcome, Request, Runner, action, copy_tree, log  # noqa: F401


@action
def run(request: Request) -> Outcome:
    name = request.config.required("Name")
    greeting = f"Hello, {name}"
    output = request.single_output()
    for artifact in request.inputs:
        copy_tree(artifact.path, output.path)
    with open(os.path.join(output.path, "greeting.txt"), "w") as file:
        file.write(greeting)
    log.info(greeting)
    return Outcome().variable("Greeting", greeting).summary(greeting)
