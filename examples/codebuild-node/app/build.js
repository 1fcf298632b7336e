'use strict';
// "Compile" the package: a single self-contained module with a version banner, and a page
// that uses it, into dist/.
const fs = require('node:fs');
const path = require('node:path');

const pkg = require('./package.json');
const dist = path.join(__dirname, 'dist');
fs.mkdirSync(dist, { recursive: true });
const source = fs.readFileSync(path.join(__dirname, 'src', 'slug.js'), 'utf8');
fs.writeFileSync(
  path.join(dist, 'slugkit.js'),
  `// ${pkg.name} ${pkg.version} (built ${process.env.CODEBUILD_BUILD_ID || 'locally'} from ` +
    `${process.env.CODEBUILD_RESOLVED_SOURCE_VERSION || 'an unknown revision'})\n${source}`,
);
fs.writeFileSync(
  path.join(dist, 'index.html'),
  `<!doctype html><title>${pkg.name} ${pkg.version}</title><h1>${pkg.name} ${pkg.version}</h1>\n`,
);
console.log(`built ${pkg.name} ${pkg.version} into dist/`);
