// {{type}}: copies its input artifacts to its output artifact, writes greeting.txt
// holding `Hello, <Name>`, and sets the output variable Greeting to the same text.

import { Outcome, action, copyTree, log, writeFile } from './sandpipe-action.js';

export const runner = action((request) => {
  const name = request.config.required('Name');
  const greeting = `Hello, ${name}`;
  const output = request.singleOutput();
  for (const artifact of request.inputs) {
    copyTree(artifact.path, output.path);
  }
  writeFile(`${output.path}/greeting.txt`, greeting);
  log.info(greeting);
  return new Outcome().variable('Greeting', greeting).summary(greeting);
});
