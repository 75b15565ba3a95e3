#!/usr/bin/env python3
"""Runs the AWS SAM transform on infra/template.yaml offline, as `sam deploy` would after `sam package`.

`sam package` uploads local artefacts and rewrites their paths to S3 locations; this script does the
same rewrite without uploading (function CodeUri → a placeholder S3 URI) and inlines the state machine
definition (DefinitionUri → Definition), so the transform sees exactly what CloudFormation would.
Managed policies are resolved from a fixed map instead of calling IAM.

Usage: sam_transform.py TEMPLATE [--asl FILE] [--param KEY=VALUE ...]
Prints the transformed CloudFormation template as JSON; exits 1 with the transform's errors otherwise.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

# The AWS managed policies SAM attaches on its own (basic execution, SQS event sources).
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/service-role/{name}"
    for name in (
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSXrayWriteOnlyAccess",
        "AWSLambdaRole",
    )
}


class FixedPolicyLoader:
    """Stands in for samtranslator's IAM-backed ManagedPolicyLoader."""

    def load(self):
        return dict(MANAGED_POLICIES)


def package(template, template_dir, asl_override):
    """Rewrites local artefact paths the way `sam package` does; returns the paths it resolved."""
    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        props = resource.get("Properties", {})
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            code_dir = (template_dir / props["CodeUri"]).resolve()
            props["CodeUri"] = f"s3://boreas-offline-transform/{logical_id}/{code_dir.name}.zip"
        if kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            asl = asl_override or (template_dir / props["DefinitionUri"])
            try:
                definition = json.loads(Path(asl).read_text())
            except FileNotFoundError:
                sys.exit(f"{logical_id}: state machine definition {asl} does not exist")
            except json.JSONDecodeError as err:
                sys.exit(f"{logical_id}: state machine definition {asl} is not JSON: {err}")
            del props["DefinitionUri"]
            props["Definition"] = definition


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template")
    parser.add_argument("--asl", help="state machine definition to inline instead of DefinitionUri")
    parser.add_argument("--param", action="append", default=[], help="template parameter KEY=VALUE")
    args = parser.parse_args()

    # ARNs are generated for a region; the transform needs one but never calls AWS.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template_path = Path(args.template)
    template = cfn_yaml.load(str(template_path))
    package(template, template_path.parent, args.asl)
    params = dict(p.split("=", 1) for p in args.param)
    try:
        result = transform(template, params, FixedPolicyLoader())
    except InvalidDocumentException as err:
        for cause in err.causes:
            print(f"{template_path}: {cause.message}", file=sys.stderr)
        sys.exit(1)
    json.dump(result, sys.stdout, indent=1, sort_keys=True, default=str)
    print()


if __name__ == "__main__":
    main()
