"""The one dispatch path: HTTP request → operation → HTTP response.

Routing (by ``X-Amz-Target`` for AWS JSON 1.1, by method and path for
REST-JSON), parsing, validation, the operation call and the response or error
shape all happen here, the same for the embedded server and for Lambda.
"""

from __future__ import annotations

import logging
import uuid

from augury.api.http import HttpRequest, HttpResponse
from augury.api.operations import OperationRegistry
from augury.api.parsing import (
    json_target,
    parse_json_request,
    parse_rest_request,
    rest_operation,
)
from augury.api.passed_roles import check_passed_roles
from augury.api.serialization import error_response, success_response
from augury.api.service_models import operation_model, service_for_path, service_model
from augury.api.validation import validate
from augury.resources.errors import (
    InternalFailure,
    NotImplementedOperation,
    ServiceError,
    UnknownOperation,
)
from augury.runtime import Runtime

logger = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, runtime: Runtime, registry: OperationRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        found = service_for_path(request.path)
        if found is None:
            error = UnknownOperation(
                f"No Augury service at {request.path}; use one of /forecast, /forecastquery, "
                "/personalize, /personalize-runtime or /personalize-events as endpoint_url"
            )
            response = error_response(error, None, request_id)
            response.status = 404
            return response
        spec, subpath = found
        try:
            return self._handle(spec.name, subpath, request, request_id)
        except ServiceError as error:
            return error_response(error, spec.name, request_id)
        except Exception:
            logger.exception("internal error in %s %s (request %s)", spec.name, subpath, request_id)
            error = InternalFailure(f"Augury hit an internal error; request id {request_id}")
            return error_response(error, spec.name, request_id)

    def _handle(
        self, service: str, subpath: str, request: HttpRequest, request_id: str
    ) -> HttpResponse:
        if service_model(service).protocol == "json":
            if request.method != "POST":
                raise UnknownOperation(
                    f"{service} takes its operations as POST requests; got {request.method}"
                )
            name = json_target(request, service)
            operation = operation_model(service, name)
            function = self._implementation(service, name)
            params = parse_json_request(request, operation)
        else:
            name, labels = rest_operation(request, service, subpath)
            operation = operation_model(service, name)
            function = self._implementation(service, name)
            params = parse_rest_request(request, operation, labels)
        validate(params, operation.input_shape)
        check_passed_roles(self.runtime, operation, request.caller, params)
        logger.debug("%s:%s %s", service, name, request_id)
        result = function(self.runtime, params)
        return success_response(result, operation, request_id)

    def _implementation(self, service: str, name: str):
        function = self.registry.get(service, name)
        if function is None:
            raise NotImplementedOperation(
                f"Augury does not implement {service}:{name} yet. Implemented operations: "
                + ", ".join(self.registry.implemented(service))
            )
        return function
