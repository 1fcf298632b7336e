//! {{type}}: copies its input artifacts to its output artifact, writes greeting.txt
//! holding `Hello, <Name>`, and sets the output variable Greeting to the same text.

use sandpipe_action_sdk::files::copy_tree;
use sandpipe_action_sdk::{Action, Failure, Outcome, Request, export_action, log};

struct Hello;

impl Action for Hello {
    fn run(request: Request) -> Result<Outcome, Failure> {
        let name = request.config().required("Name")?;
        let greeting = format!("Hello, {name}");
        let output = request.single_output()?;
        for input in &request.inputs {
            copy_tree(&input.path, &output.path)?;
        }
        let file = format!("{}/greeting.txt", output.path);
        std::fs::write(&file, &greeting).map_err(|e| Failure::io(&file, e))?;
        log::info(&greeting);
        Ok(Outcome::new()
            .variable("Greeting", &greeting)
            .summary(greeting))
    }
}

export_action!(Hello);
