"""Pure parts of the Graph emulator: its Graph model, the tool comparing it with Microsoft's CSDL, and the
validator. The CSDL here is a few lines written for the test, not Microsoft's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.graph_emulator.errors import GraphError
from tests.graph_emulator.metadata import check
from tests.graph_emulator.model import GRAPH, Model
from tests.graph_emulator.model.declare import (
    BOOLEAN,
    INT32,
    STRING,
    Operation,
    Prop,
    complex_type,
    entity,
    enum,
    nav,
    prop,
)
from tests.graph_emulator.schema import load_schema
from tests.graph_emulator.validate import Validator

TINY_CSDL = b"""<?xml version="1.0"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EnumType Name="importance"><Member Name="low" Value="0"/><Member Name="normal" Value="1"/></EnumType>
  <ComplexType Name="recipient"><Property Name="emailAddress" Type="graph.emailAddress"/></ComplexType>
  <ComplexType Name="emailAddress"><Property Name="address" Type="Edm.String"/></ComplexType>
  <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id"/></Key>
    <Property Name="id" Type="Edm.String" Nullable="false"/></EntityType>
  <EntityType Name="message" BaseType="graph.entity" OpenType="true">
    <Property Name="importance" Type="graph.importance"/>
    <Property Name="isRead" Type="Edm.Boolean" Nullable="false"/>
    <Property Name="size" Type="Edm.Int32"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/></Property>
    <Property Name="webLink" Type="Edm.String"/>
    <Property Name="serial" Type="Edm.String"/>
    <Property Name="toRecipients" Type="Collection(graph.recipient)"/>
    <NavigationProperty Name="attachments" Type="Collection(graph.attachment)" ContainsTarget="true"/>
  </EntityType>
  <Action Name="move" IsBound="true"><Parameter Name="bindingParameter" Type="graph.message"/>
    <Parameter Name="DestinationId" Type="Edm.String" Nullable="false"/><ReturnType Type="graph.message"/></Action>
  <Annotations Target="microsoft.graph.message/webLink">
    <Annotation Term="Org.OData.Core.V1.Permissions"><EnumMember>Org.OData.Core.V1.Permission/Read</EnumMember>
    </Annotation>
  </Annotations>
  <Annotations Target="microsoft.graph.message/serial">
    <Annotation Term="Org.OData.Core.V1.Immutable" Bool="true"/>
  </Annotations>
</Schema></edmx:DataServices></edmx:Edmx>"""


def _tiny_model(*message_props: Prop, members: tuple[str, ...] = ("low", "normal"),
                destination_type: str = STRING) -> Model:
    return Model.of(
        [entity("entity", None, prop("id", STRING, nullable=False, read_only=True), abstract=True),
         complex_type("emailAddress", prop("address", STRING)),
         complex_type("recipient", prop("emailAddress", "emailAddress")),
         entity("message", "entity", *message_props)],
        [enum("importance", *members)],
        [Operation("move", "Action", "message", False, (prop("DestinationId", destination_type, nullable=False),),
                   "message")])


def test_check_finds_no_difference_in_a_model_that_fits() -> None:
    model = _tiny_model(prop("importance", "importance"), prop("isRead", BOOLEAN, nullable=False),
                        prop("size", INT32, read_only=True), prop("toRecipients", "recipient", many=True))
    report = check.compare(model, TINY_CSDL)
    assert report.differences == []
    assert report.stricter == ["message: left out 3: attachments, serial, webLink"]
    assert report.checked == {"types": 4, "properties": 7, "enum members": 2, "operations": 1}


def test_check_reports_every_way_the_model_is_looser_or_different() -> None:
    model = _tiny_model(
        prop("importance", "importance"),
        prop("isRead", BOOLEAN),                          # null allowed; Graph says Nullable=false
        prop("size", INT32),                              # Core.Computed in Graph (inline annotation)
        prop("webLink", STRING),                          # Core.Permissions Read (annotation apart from it)
        prop("serial", STRING),                           # Core.Immutable
        prop("toRecipients", "recipient"),                # Graph: a collection
        prop("subjekt", STRING),                          # no such property in Graph
        nav("attachments", "emailAddress", contains=False),
        members=("low", "normal", "urgent"),
        destination_type=INT32,
    )
    assert sorted(check.compare(model, TINY_CSDL).differences) == sorted([
        "message.isRead: the model allows null, Graph says Nullable=false",
        "message.size: Graph marks it read-only (Computed); the model lets it be written",
        "message.webLink: Graph marks it read-only (Permissions Read); the model lets it be written",
        "message.serial: Graph marks it read-only (Immutable); the model lets it be written",
        "message.toRecipients: the model says recipient, Graph says Collection(recipient)",
        "message.subjekt: Graph's message has no such property",
        "message.attachments: the model says Collection(emailAddress), Graph says Collection(attachment)",
        "message.attachments: the model says ContainsTarget=False, Graph says True",
        "importance: Graph does not list the member 'urgent'",
        "move on message, parameter DestinationId: the model says Edm.Int32, Graph says Edm.String",
    ])


def test_check_reports_types_operations_and_keys_graph_does_not_have() -> None:
    model = Model.of(
        [entity("entity", None, prop("id", STRING, nullable=False), abstract=True),  # the key: read-only
         entity("message", "entity"),
         entity("contactGroup", "entity")],
        [enum("colour", "red")],
        [Operation("copy", "Action", "message", False, (), "message"),
         Operation("move", "Action", "message", True, (), "message"),
         Operation("move", "Function", "message", False, (prop("Destination", STRING),), "message")])
    assert sorted(check.compare(model, TINY_CSDL).differences) == sorted([
        "entity.id: Graph marks it read-only (key); the model lets it be written",
        "contactGroup: Graph has no such entity or complex type",
        "colour: Graph has no such enum type",
        "copy on message: Graph has no such bound action or function",
        "move on Collection(message): Graph has no such bound action or function",
        "move on message: the model has an Function, Graph a Action",
        "move on message: Graph has no parameter Destination",
    ])


def test_check_runs_as_a_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csdl = tmp_path / "cleanMetadata.xml"
    csdl.write_bytes(TINY_CSDL)
    assert check.main(["--metadata", str(csdl)]) == 1  # the emulator's model against a tiny CSDL: far apart
    out = capsys.readouterr().out
    assert "DIFFERENT event: Graph has no such entity or complex type" in out


def test_the_model_refers_only_to_what_it_declares() -> None:
    assert GRAPH.dangling() == []
    with pytest.raises(ValueError, match="recipient"):
        Model.of([entity("message", None, prop("toRecipients", "recipient", many=True))], [], [])


def test_the_model_says_what_microsoft_documents() -> None:
    """Facts written here from Graph's v1.0 documentation, not from the model."""
    enums = GRAPH.enums
    assert enums["followupFlagStatus"].members == ("notFlagged", "complete", "flagged")
    assert enums["automaticRepliesStatus"].members == ("disabled", "alwaysEnabled", "scheduled")
    assert enums["externalAudienceScope"].members == ("none", "contactsOnly", "all")
    assert set(enums["taskStatus"].members) == {"notStarted", "inProgress", "completed", "waitingOnOthers",
                                                "deferred"}
    assert set(enums["recurrencePatternType"].members) == {"daily", "weekly", "absoluteMonthly", "relativeMonthly",
                                                           "absoluteYearly", "relativeYearly"}
    schema = load_schema()
    message = schema.properties("message")
    assert (message["isDraft"].type, message["receivedDateTime"].type) == ("Edm.Boolean", "Edm.DateTimeOffset")
    assert {"id", "changeKey", "isDraft", "receivedDateTime", "sentDateTime", "hasAttachments"} <= \
        schema.read_only("message")
    assert {"subject", "body", "isRead", "categories", "flag"}.isdisjoint(schema.read_only("message"))
    cancelled = schema.properties("event")["cancelledOccurrences"]
    assert (cancelled.type, cancelled.collection, cancelled.nullable) == ("Edm.String", True, False)
    assert schema.properties("singleValueLegacyExtendedProperty")["value"].type == "Edm.String"
    assert "contactGroup" not in GRAPH.types  # Graph v1.0 has no contact groups
    assert {p.name for p in GRAPH.types["uploadSession"].props} == {"expirationDateTime", "nextExpectedRanges",
                                                                    "uploadUrl"}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_schema())


def _refusal(validator: Validator, type_name: str, body: object) -> str:
    with pytest.raises(GraphError) as info:
        validator.check_request(type_name, body)
    assert (info.value.status, info.value.code) == (400, "RequestBodyRead")
    return info.value.message


def test_validator_messages(validator: Validator) -> None:
    assert _refusal(validator, "contact", {"nickname": "x"}).startswith(
        "The property 'nickname' does not exist on type 'microsoft.graph.contact'.")
    assert _refusal(validator, "messageRule", {"sequence": 1.5}) == \
        "Cannot convert the literal '1.5' to the expected type 'Edm.Int32'."
    assert _refusal(validator, "messageRule", {"sequence": True}) == \
        "Cannot convert the literal 'true' to the expected type 'Edm.Int32'."
    assert _refusal(validator, "messageRule", {"sequence": 2**31}) == \
        f"Cannot convert the literal '{2**31}' to the expected type 'Edm.Int32'."
    assert _refusal(validator, "event", {"showAs": "Busy"}) == "Requested value 'Busy' was not found."
    assert _refusal(validator, "todoTask", {"importance": None}).startswith(
        "A null value was found for the property named 'importance'")
    assert _refusal(validator, "message", ["not", "an", "object"]).startswith("An unexpected 'StartArray' node")
    assert _refusal(validator, "fileAttachment", {"contentBytes": "not base64!"}) == \
        "Cannot convert the literal 'not base64!' to the expected type 'Edm.Binary'."
    assert "abstract" in _refusal(validator, "attachment", {"name": "x"})


def test_validator_accepts_derived_and_annotated(validator: Validator) -> None:
    assert validator.check_request("attachment", {"@odata.type": "#microsoft.graph.fileAttachment",
                                                  "name": "a", "contentBytes": "YQ=="}) == "fileAttachment"
    assert validator.check_request("event", {
        "attendees": [{"@odata.type": "microsoft.graph.attendee", "type": "optional",
                       "emailAddress": {"address": "a@b.test"}}],
        "categories@odata.type": "#Collection(String)", "categories": ["x"]}) == "event"


def test_response_problems_find_what_does_not_fit(validator: Validator) -> None:
    assert validator.response_problems("message", {"id": "x", "isRead": True, "@odata.etag": "W/\"1\""}) == []
    assert validator.response_problems("message", {"id": "x", "isRead": "yes", "nope": 1}) == [
        "$.isRead: 'yes' is not a valid Edm.Boolean", "$.nope: no such property on message"]
