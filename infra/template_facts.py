#!/usr/bin/env python3
"""Prints, as JSON, what infra/template.yaml declares, with resource names resolved for one prefix.

The test suite compares these facts with what `boreas provision` creates (template parity) and checks
the rules the template must keep (SQS sources report partial batch failures, visibility timeouts are
at least six times the consuming function's timeout).

Usage: template_facts.py TEMPLATE PREFIX
"""

import json
import re
import sys

from cfnlint.decode import cfn_yaml

# Pseudo parameters resolve to fixed stand-ins: only names built from the prefix are compared.
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class Resolver:
    def __init__(self, template, prefix):
        self.resources = template.get("Resources", {})
        # Other parameters resolve to their defaults, as in a stack deployed with only a prefix.
        defaults = {k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v}
        self.params = {**defaults, "Prefix": prefix, **PSEUDO}
        self.conditions = template.get("Conditions", {})

    def name_of(self, logical_id):
        """The physical name a resource is given through its name property, else a stand-in
        (also for resources SAM generates, such as a function's or state machine's role)."""
        props = self.resources.get(logical_id, {}).get("Properties", {})
        for key in ("TableName", "QueueName", "BucketName", "Name", "FunctionName", "ManagedPolicyName"):
            if key in props:
                return self.value(props[key])
        return f"generated-name-of:{logical_id}"

    def value(self, node):
        """Evaluates the intrinsics the template uses for names (Ref, Fn::Sub, Fn::GetAtt)."""
        if isinstance(node, str):
            return str(node)
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                if arg in self.params:
                    return self.params[arg]
                # SAM's references to a function's AutoPublishAlias and its current version.
                for suffix, kind in ((".Alias", "alias"), (".Version", "version")):
                    if arg.endswith(suffix):
                        return f"{kind}-of:{self.name_of(arg.removesuffix(suffix))}"
                return self.name_of(arg)
            if fn == "Fn::GetAtt":
                logical_id = arg[0] if isinstance(arg, list) else arg.split(".")[0]
                return f"arn-of:{self.name_of(logical_id)}"
            if fn == "Fn::Sub" and isinstance(arg, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: self.sub_var(m.group(1)), arg)
            if fn == "Fn::If":
                condition, then, otherwise = arg
                return self.value(then if self.holds(self.conditions[condition]) else otherwise)
        raise ValueError(f"cannot resolve {json.dumps(node, default=str)}")

    def holds(self, node):
        """Evaluates a condition (Fn::Equals, Fn::Not, a named condition) with the parameters."""
        (fn, arg), = node.items()
        if fn == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if fn == "Fn::Not":
            return not self.holds(arg[0])
        if fn == "Condition":
            return self.holds(self.conditions[arg])
        raise ValueError(f"cannot evaluate {json.dumps(node, default=str)}")

    def sub_var(self, var):
        # `${!Name}` is Fn::Sub's escape for a literal `${Name}` (IAM policy variables).
        if var.startswith("!"):
            return "${" + var[1:] + "}"
        if var in self.params:
            return self.params[var]
        if "." in var:
            return f"arn-of:{self.name_of(var.split('.')[0])}"
        return self.name_of(var)


def as_list(node):
    return node if isinstance(node, list) else [node]


def allowed_statements(r, props):
    """The Allow statements of a resource's inline `Policies`, resources resolved, with their
    conditions (managed policies by reference are left out)."""
    return [
        {
            "actions": sorted(as_list(statement["Action"])),
            "resources": sorted(r.value(x) for x in as_list(statement["Resource"])),
            **({"condition": statement["Condition"]} if "Condition" in statement else {}),
        }
        for policy in props.get("Policies", [])
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if statement.get("Effect") == "Allow"
    ]


def main():
    template_path, prefix = sys.argv[1], sys.argv[2]
    template = cfn_yaml.load(template_path)
    r = Resolver(template, prefix)
    resources = template.get("Resources", {})

    tables, queues, buckets, state_machines, functions, custom = {}, {}, [], {}, {}, {}
    for logical_id, res in resources.items():
        kind, props = res.get("Type"), res.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            tables[r.value(props["TableName"])] = {
                "keys": {k["KeyType"]: k["AttributeName"] for k in props["KeySchema"]},
                "indexes": {
                    g["IndexName"]: {k["KeyType"]: k["AttributeName"] for k in g["KeySchema"]}
                    for g in props.get("GlobalSecondaryIndexes", [])
                },
                "ttl": props.get("TimeToLiveSpecification", {}).get("AttributeName"),
                "pitr": props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled", False),
            }
        elif kind == "AWS::SQS::Queue":
            redrive = props.get("RedrivePolicy")
            dlq = None
            if redrive:
                dlq = r.value(redrive["deadLetterTargetArn"]).removeprefix("arn-of:")
            queues[r.value(props["QueueName"])] = {
                "dlq": dlq,
                "max_receive_count": int(redrive["maxReceiveCount"]) if redrive else None,
                "visibility_timeout": props.get("VisibilityTimeout", 30),
            }
        elif kind == "AWS::S3::Bucket":
            buckets.append(r.value(props["BucketName"]))
        elif kind.startswith("Custom::"):
            custom[logical_id] = {
                "type": kind,
                "properties": {k: r.value(v) for k, v in props.items()},
            }
        elif kind == "AWS::Serverless::StateMachine":
            state_machines[r.value(props["Name"])] = {
                "definition_uri": props.get("DefinitionUri"),
                "substitution_keys": sorted(props.get("DefinitionSubstitutions", {})),
                "statements": allowed_statements(r, props),
            }

    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    for logical_id, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = res.get("Properties", {})
        sources = []
        for event in props.get("Events", {}).values():
            if event.get("Type") == "SQS":
                sources.append({
                    "queue": r.value(event["Properties"]["Queue"]).removeprefix("arn-of:"),
                    "function_response_types": event["Properties"].get("FunctionResponseTypes", []),
                })
        functions[r.value(props["FunctionName"])] = {
            "timeout": props.get("Timeout", global_timeout),
            "environment": {
                k: r.value(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()
            },
            "sqs_sources": sources,
            "code_uri": props.get("CodeUri"),
            "binary": res.get("Metadata", {}).get("BuildProperties", {}).get("Binary"),
            "build_method": res.get("Metadata", {}).get("BuildMethod"),
            "auto_publish_alias": props.get("AutoPublishAlias"),
            "statements": allowed_statements(r, props),
        }

    # Managed policies (the worker policies), statements resolved.
    managed_policies = {}
    queue_policies = {}
    for logical_id, res in resources.items():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::IAM::ManagedPolicy":
            managed_policies[r.value(props["ManagedPolicyName"])] = [
                {
                    "sid": st.get("Sid"),
                    "effect": st["Effect"],
                    "actions": sorted(as_list(st["Action"])),
                    "resources": sorted(r.value(x) for x in as_list(st["Resource"])),
                }
                for st in props["PolicyDocument"]["Statement"]
            ]
        elif res.get("Type") == "AWS::SQS::QueuePolicy":
            for queue in props["Queues"]:
                queue_policies[r.value(queue)] = [
                    {
                        "effect": st["Effect"],
                        "principal": st.get("Principal"),
                        "actions": sorted(as_list(st["Action"])),
                        "resources": sorted(r.value(x) for x in as_list(st["Resource"])),
                        "condition": {
                            op: {
                                k: [r.value(x) for x in v] if isinstance(v, list) else r.value(v)
                                for k, v in cond.items()
                            }
                            for op, cond in st.get("Condition", {}).items()
                        },
                    }
                    for st in props["PolicyDocument"]["Statement"]
                ]

    # SSM names the functions read, published as outputs (the SecureStrings are made out of band).
    ssm = {
        key: r.value(out["Value"])
        for key, out in template.get("Outputs", {}).items()
        if r.value(out["Value"]).startswith(f"/{prefix}/")
    }

    json.dump(
        {
            "tables": tables,
            "queues": queues,
            "buckets": sorted(buckets),
            "state_machines": state_machines,
            "functions": functions,
            "custom_resources": custom,
            "ssm_parameters": ssm,
            "managed_policies": managed_policies,
            "queue_policies": queue_policies,
        },
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
    print()


if __name__ == "__main__":
    main()
